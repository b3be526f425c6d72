"""One window per data folder: a second launch (double-clicking the launcher again) hands over to the running
app, which comes to the front, and exits. A local socket named after the data folder carries the request."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtNetwork import QLocalServer, QLocalSocket

ACTIVATE = b"activate\n"


def server_name(data_dir: Path) -> str:
    digest = hashlib.sha256(str(Path(data_dir).expanduser().resolve()).encode()).hexdigest()[:16]
    return f"nexus-studio-{digest}"


class SingleInstance(QObject):
    def __init__(self, data_dir: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.folder = Path(data_dir).expanduser().resolve()
        self.name = server_name(data_dir)
        self.server: QLocalServer | None = None
        self.on_activate: Callable[[], None] | None = None  # what a later launch brings to the front

    def activate_running(self, timeout_ms: int = 500) -> bool:
        """If an app is already running on this data folder, ask it to come to the front; True when one did."""
        socket = QLocalSocket()
        socket.connectToServer(self.name)
        if not socket.waitForConnected(timeout_ms):
            return False
        socket.write(ACTIVATE)
        socket.waitForBytesWritten(timeout_ms)
        socket.disconnectFromServer()
        return True

    def listen(self, on_activate: Callable[[], None]) -> bool:
        """Be the running instance: later launches call ``on_activate``. False when the name cannot be taken."""
        self.on_activate = on_activate
        server = QLocalServer(self)
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not server.listen(self.name):
            if self.activate_running():  # a live instance owns the name: never take it from it
                return False
            QLocalServer.removeServer(self.name)  # a stale socket left by a crash
            if not server.listen(self.name):
                return False
        server.newConnection.connect(self._connection)
        self.server = server
        return True

    def _connection(self) -> None:
        assert self.server is not None
        while (socket := self.server.nextPendingConnection()) is not None:
            socket.readyRead.connect(lambda s=socket: self._read(s))
            socket.disconnected.connect(socket.deleteLater)
            if socket.bytesAvailable():
                self._read(socket)

    def _read(self, socket: QLocalSocket) -> None:
        if bytes(socket.readAll().data()).startswith(ACTIVATE.strip()) and self.on_activate is not None:
            self.on_activate()

    def hand_to(self, on_activate: Callable[[], None]) -> None:
        """Later launches now call ``on_activate`` (the first-run wizard listens first, then the main window)."""
        self.on_activate = on_activate

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
