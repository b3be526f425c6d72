# Tries: start a process with subprocess to write a marker file in /tmp.
# ruff: noqa
import subprocess

subprocess.run(["touch", "NEXUS_MARKER_TMP"], check=False)
