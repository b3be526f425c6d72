# Tries: import os indirectly through importlib.import_module.
# ruff: noqa
import importlib

importlib.import_module("os").system("touch NEXUS_MARKER_TMP")
