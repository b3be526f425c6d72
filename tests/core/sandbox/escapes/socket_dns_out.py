# Tries: connect out to 1.1.1.1:53 (public DNS) over TCP.
# ruff: noqa
import socket

with socket.create_connection(("1.1.1.1", 53), timeout=2) as s:
    print("connected out", s.getpeername())
