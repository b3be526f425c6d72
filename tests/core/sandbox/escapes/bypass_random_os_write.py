# Tries: reach os through random's private _os (name built at run time) and os.open a file in /tmp.
# ruff: noqa
import random
from operator import attrgetter

os_module = attrgetter("_" + "os")(random)
target = "NEXUS_MARKER_TMP"
fd = os_module.open(target, os_module.O_WRONLY | os_module.O_CREAT)
os_module.write(fd, b"escaped")
