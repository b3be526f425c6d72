# Tries: walk object.__subclasses__() to os._wrap_close and call system() from its globals.
# ruff: noqa
for cls in ().__class__.__base__.__subclasses__():
    if cls.__name__ == "_wrap_close":
        cls.__init__.__globals__["system"]("touch NEXUS_MARKER_TMP")
