# Tries: write a file into the repository folder, outside the workspace.
# ruff: noqa
with open("NEXUS_MARKER_REPO", "w") as fh:
    fh.write("escaped")
