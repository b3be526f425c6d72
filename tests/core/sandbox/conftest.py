"""Shared fixtures for the sandbox tests: short limits, a loopback listener, bubblewrap on/off."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from nexus_core.sandbox import Limits, sandbox_capabilities

# Short limits so the whole folder stays well under a minute on a 2-core machine, with room for the
# interpreter's start-up on a loaded one (it once used a whole 1 s CPU allowance by itself).
FAST = Limits(wall_s=4.0, cpu_s=2, memory_mb=256, file_size_mb=8, processes=16, open_files=64,
              output_bytes=200_000)
GRACE_S = 2.0

needs_bwrap = pytest.mark.skipif(not sandbox_capabilities().bubblewrap, reason="bubblewrap cannot run here: "
                                 + sandbox_capabilities().reason)
BWRAP_PARAMS = [pytest.param(True, id="bwrap", marks=needs_bwrap), pytest.param(False, id="no-bwrap")]


@pytest.fixture(params=BWRAP_PARAMS)
def use_bwrap(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


@pytest.fixture
def loopback_listener() -> Iterator[socket.socket]:
    """A listening socket on the host's loopback; a test asserts nothing ever connected to it."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.setblocking(False)
    yield server
    server.close()


def connections_to(server: socket.socket) -> int:
    count = 0
    while True:
        try:
            conn, _ = server.accept()
        except BlockingIOError:
            return count
        conn.close()
        count += 1
