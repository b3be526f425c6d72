# Tries: write a file in /tmp, outside the workspace.
# ruff: noqa
with open("NEXUS_MARKER_TMP", "w") as fh:
    fh.write("escaped")
