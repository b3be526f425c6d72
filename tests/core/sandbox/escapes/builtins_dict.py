# Tries: fetch __import__ out of __builtins__ to get os.
# ruff: noqa
imp = __builtins__["__import__"] if isinstance(__builtins__, dict) else __builtins__.__import__
imp("os").system("touch NEXUS_MARKER_TMP")
