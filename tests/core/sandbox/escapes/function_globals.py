# Tries: a function's __globals__ to get at __builtins__ and from there open().
# ruff: noqa
def f():
    return 0


f.__globals__["__builtins__"].open("NEXUS_MARKER_TMP", "w").write("escaped")
