# Tries: reach os at run time and signal the parent process (the app).
# ruff: noqa
# SIGCONT stands in for SIGKILL so that a regression fails this test instead of killing the test run;
# the guard refuses any signal to another process.
import random
from operator import attrgetter

os_module = attrgetter("_" + "os")(random)
os_module.kill(os_module.getppid(), 18)
