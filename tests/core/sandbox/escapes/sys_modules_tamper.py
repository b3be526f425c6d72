# Tries: take os out of sys.modules and swap the import machinery.
# ruff: noqa
import sys

sys.modules["os"].system("touch NEXUS_MARKER_TMP")
