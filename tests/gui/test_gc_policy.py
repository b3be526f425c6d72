"""Garbage is collected on the GUI thread only: by the timer when the thresholds are crossed, and for the core's
requests from worker threads (a Qt object destroyed on a worker thread can crash the app)."""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Iterator

import pytest
from PySide6.QtCore import QObject

from app.gc_policy import GuiGarbageCollector
from nexus_core.memory import collect_garbage


@pytest.fixture
def collector(gui_garbage_collector: GuiGarbageCollector) -> Iterator[GuiGarbageCollector]:
    """A collector of the test's own, in place of the session's one (given back afterwards)."""
    gui_garbage_collector.uninstall()
    own = GuiGarbageCollector().install()
    yield own
    own.uninstall()
    gui_garbage_collector.install()


class Cycle:
    """An object only a garbage collection can free (it refers to itself), holding a Qt object as panels do."""

    def __init__(self) -> None:
        self.me = self
        self.qt = QObject()


def _cycle_freed_on(seen: list[int]) -> weakref.ref[Cycle]:
    cycle = Cycle()
    ref = weakref.ref(cycle, lambda _r: seen.append(threading.get_ident()))
    del cycle
    return ref


def test_automatic_collection_is_off_and_the_timer_collects_on_the_gui_thread(qtbot, collector) -> None:  # type: ignore[no-untyped-def]
    assert not gc.isenabled()
    seen: list[int] = []
    ref = _cycle_freed_on(seen)
    threshold = gc.get_threshold()[0]
    filler: list[list[int]] = []

    def allocating_until_collected() -> bool:
        # the count is "made minus freed since the last collection": an earlier test's objects freed meanwhile lower
        # it, so keep it past the threshold as a busy program would
        while gc.get_count()[0] <= threshold:
            filler.append([])
        return ref() is None

    allocating_until_collected()
    assert ref() is not None  # nothing collects without the timer
    before = sum(collector.collections)
    qtbot.waitUntil(allocating_until_collected, timeout=10_000)
    assert seen == [threading.get_ident()]
    assert sum(collector.collections) > before


def test_a_worker_thread_asking_for_a_collection_has_it_run_on_the_gui_thread(qtbot, collector) -> None:  # type: ignore[no-untyped-def]
    collector._timer.stop()  # only the request may collect here
    seen: list[int] = []
    ref = _cycle_freed_on(seen)
    returned = threading.Event()

    def worker() -> None:
        collect_garbage()
        returned.set()

    thread = threading.Thread(target=worker, name="test-unload")
    thread.start()
    qtbot.waitUntil(returned.is_set, timeout=10_000)
    thread.join()
    assert ref() is None, "the worker returned before its collection ran"
    assert seen == [threading.get_ident()] and thread.ident not in seen


def test_uninstalled_collection_is_the_interpreters_again(qtbot, collector) -> None:  # type: ignore[no-untyped-def]
    assert not gc.isenabled()
    collector.uninstall()
    assert gc.isenabled()
    seen: list[int] = []
    ref = _cycle_freed_on(seen)
    thread = threading.Thread(target=collect_garbage)
    thread.start()
    thread.join()
    assert ref() is None and seen == [thread.ident]  # collected where it was asked, without the GUI thread
