# Tries: reach os at run time and posix_spawn a long-lived grandchild that would outlive the run.
# ruff: noqa
import random
from operator import attrgetter

os_module = attrgetter("_" + "os")(random)
os_module.posix_spawn("/bin/sh", ["sh", "-c", "sleep 30; touch NEXUS_MARKER_TMP"], {})
