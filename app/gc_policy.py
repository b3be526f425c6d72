"""Python's garbage collector, run on the GUI thread only.

Automatic collection starts on whichever thread happens to allocate when a threshold is crossed. A Qt object that
ended up in a reference cycle is then destroyed on a worker thread, maybe while the GUI thread is handling one of its
events: a crash, now and then, with no trace in our own code. So automatic collection is switched off while the
window runs and a timer on the GUI thread collects the generations whose thresholds were crossed, as the
interpreter would have. The core's own requests (after unloading a model) are handed to the GUI thread too.
"""

from __future__ import annotations

import gc
import logging
import threading

from PySide6.QtCore import QObject, QTimer, Slot

from app.workers import call_on_gui_thread, ensure_dispatcher, on_gui_thread
from nexus_core.memory import set_garbage_collector

log = logging.getLogger(__name__)

CHECK_INTERVAL_MS = 1000
# How long a worker waits for the GUI thread to collect for it; a GUI thread that is busy (or shutting down) for
# longer leaves the collection to its own next check.
HANDOFF_WAIT_S = 5.0


class GuiGarbageCollector(QObject):
    def __init__(self, parent: QObject | None = None, *, interval_ms: int = CHECK_INTERVAL_MS) -> None:
        super().__init__(parent)
        ensure_dispatcher()
        self._was_enabled = gc.isenabled()
        self.collections = [0, 0, 0]  # per generation, for the tests and the diagnostics
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.check)
        self._installed = False

    def install(self) -> GuiGarbageCollector:
        gc.disable()
        set_garbage_collector(self.collect_now)
        self._timer.start()
        self._installed = True
        return self

    def uninstall(self) -> None:
        """Give collection back to the interpreter (before shutting the core down, when the GUI thread stops
        serving requests), after one last collection here of whatever the closed window left in cycles."""
        if not self._installed:
            return
        self._installed = False
        self._timer.stop()
        gc.collect()
        set_garbage_collector(None)
        if self._was_enabled:
            gc.enable()

    @Slot()
    def check(self) -> None:
        """What the interpreter does when enough objects were made: collect the oldest generation whose count is
        past its threshold."""
        thresholds = gc.get_threshold()
        counts = gc.get_count()
        if counts[0] <= thresholds[0]:
            return
        generation = max(g for g in range(3) if g == 0 or counts[g] > thresholds[g])
        gc.collect(generation)
        self.collections[generation] += 1

    def collect_now(self) -> None:
        """A full collection on the GUI thread; from a worker thread it waits (bounded) for the GUI thread to run
        it."""
        if on_gui_thread():
            gc.collect()
            return
        done = threading.Event()

        def collect() -> None:
            try:
                gc.collect()
            finally:
                done.set()

        call_on_gui_thread(collect)
        if not done.wait(HANDOFF_WAIT_S):
            log.info("the GUI thread was busy: garbage is collected at its next check instead")
