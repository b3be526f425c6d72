# Tries: connect to a server the test runs on the host's loopback.
# ruff: noqa
import socket

with socket.create_connection(("127.0.0.1", NEXUS_LOOPBACK_PORT), timeout=2) as s:
    s.sendall(b"escaped")
