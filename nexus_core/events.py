"""The one event protocol of the core: a thread-safe, Qt-free signal.

Core objects own ``Emitter`` attributes; the GUI connects to them through ``app.bridge`` which turns
each emission into a queued Qt signal, so callbacks never touch widgets from a worker thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)


class Emitter(Generic[T]):
    """Calls every connected callback, in the emitting thread, with each emitted value.

    A failing callback is logged and does not stop the others: one broken subscriber must not break
    the job runner or the telemetry sampler that emits.
    """

    def __init__(self, name: str = "") -> None:
        self.name = name
        self._callbacks: list[Callable[[T], object]] = []
        self._lock = threading.Lock()

    def connect(self, callback: Callable[[T], object]) -> Callable[[], None]:
        with self._lock:
            self._callbacks.append(callback)
        return lambda: self.disconnect(callback)

    def disconnect(self, callback: Callable[[T], object]) -> None:
        with self._lock:
            try:
                self._callbacks.remove(callback)
            except ValueError:
                pass

    def emit(self, value: T) -> None:
        with self._lock:
            callbacks = list(self._callbacks)
        for callback in callbacks:
            try:
                callback(value)
            except Exception:
                log.exception("subscriber %r of %s failed", callback, self.name or "emitter")

    def __len__(self) -> int:
        with self._lock:
            return len(self._callbacks)
