# Tries: the __import__ builtin, which an import allowlist on statements alone would miss.
# ruff: noqa
__import__("os").system("touch NEXUS_MARKER_TMP")
