# Tries: import os and run a shell command that creates a marker file outside the workspace.
# ruff: noqa
import os

os.system("touch NEXUS_MARKER_TMP")
