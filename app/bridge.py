"""Turns core ``Emitter`` callbacks (fired on any thread) into Qt signals emitted on the GUI thread.

A callback from a worker thread is handed to the GUI thread through the one dispatcher in ``app.workers`` and
``fired`` is emitted there, so whatever is connected to it (bound methods, lambdas) runs on the GUI thread and no
signal of this object is ever emitted from another thread. A callback on the GUI thread emits at once, as before.
"""

from __future__ import annotations

import functools
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, Signal

from app.workers import call_on_gui_thread, ensure_dispatcher, on_gui_thread
from nexus_core.events import Emitter


class EmitterBridge(QObject):
    fired = Signal(object)

    def __init__(self, emitter: Emitter[Any], parent: QObject | None = None) -> None:
        super().__init__(parent)
        ensure_dispatcher()  # on the GUI thread, before a worker needs it
        self._closed = False
        self._disconnect = emitter.connect(self._forward)

    def _forward(self, value: Any) -> None:  # on whichever thread the core fired on
        if self._closed:
            return
        if on_gui_thread():
            self._emit(value)
        else:
            call_on_gui_thread(functools.partial(self._emit, value))

    def _emit(self, value: Any) -> None:  # on the GUI thread
        if not self._closed and shiboken6.isValid(self):  # the panel that owned it may have gone meanwhile
            self.fired.emit(value)

    def close(self) -> None:
        self._closed = True
        self._disconnect()
