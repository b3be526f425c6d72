# Tries: a symlink to / and a dir_fd-relative '..' path, two classic ways around path checks.
# ruff: noqa
import random
from operator import attrgetter

os_module = attrgetter("_" + "os")(random)
try:
    os_module.symlink("/", "root-link")
except PermissionError as exc:
    print("symlink refused:", exc)
os_module.makedirs("a/b", exist_ok=True)
fd = os_module.open(".", os_module.O_RDONLY)
os_module.chdir("a/b")
target = "../../NEXUS_MARKER_NAME"
os_module.open(target, os_module.O_WRONLY | os_module.O_CREAT, dir_fd=fd)
