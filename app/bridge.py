"""Turns core ``Emitter`` callbacks (fired on any thread) into Qt signals emitted on the GUI thread.

A callback from a worker thread is handed to the GUI thread through the one dispatcher in ``app.workers`` and
``fired`` is emitted there, so whatever is connected to it (bound methods, lambdas) runs on the GUI thread and no
signal of this object is ever emitted from another thread. A callback on the GUI thread emits at once, as before.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal

from app.workers import deliver_to, ensure_dispatcher
from nexus_core.events import Emitter


class EmitterBridge(QObject):
    fired = Signal(object)

    def __init__(self, emitter: Emitter[Any], parent: QObject | None = None) -> None:
        super().__init__(parent)
        ensure_dispatcher()  # on the GUI thread, before a worker needs it
        self._closed = False
        self._disconnect = emitter.connect(self._forward)

    def _forward(self, value: Any) -> None:  # on whichever thread the core fired on
        if not self._closed:
            deliver_to(self, self._emit, value)  # not if the panel that owns it has gone meanwhile

    def _emit(self, value: Any) -> None:  # on the GUI thread
        if not self._closed:
            self.fired.emit(value)

    def close(self) -> None:
        self._closed = True
        self._disconnect()
