# Tries: dataclasses.sys (name built at run time) -> sys.modules -> importlib internals -> import socket.
# ruff: noqa
import dataclasses
from operator import attrgetter

modules = attrgetter("sy" + "s.mod" + "ules")(dataclasses)
bootstrap = modules["importlib._bootstrap"] if "importlib._bootstrap" in modules else modules["_frozen_importlib"]
sock_mod = attrgetter("_gcd_" + "import")(bootstrap)("socket")
sock_mod.create_connection(("127.0.0.1", NEXUS_LOOPBACK_PORT), timeout=2).sendall(b"escaped")
