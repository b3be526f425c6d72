"""Turns core ``Emitter`` callbacks (fired on worker threads) into Qt signals delivered on the GUI thread.

Connect GUI code to ``bridge.fired`` with a bound method of a QObject: Qt then queues each call to that
object's thread, so widgets are only ever touched from the GUI thread.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal

from nexus_core.events import Emitter


class EmitterBridge(QObject):
    fired = Signal(object)

    def __init__(self, emitter: Emitter[Any], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._disconnect = emitter.connect(self.fired.emit)

    def close(self) -> None:
        self._disconnect()
