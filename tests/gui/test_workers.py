"""Background calls hand their results back to the GUI thread, however fast the work finishes.

The waits are long because the shared worker pool may still be busy with an earlier test's work (the wizard's
CUDA check); they end as soon as the result is in."""

from __future__ import annotations

import concurrent.futures
import threading
import time

import pytest

from app.workers import run_async, run_blocking
from nexus_core.aio import AsyncLoopThread


class SlowCallerLoop(AsyncLoopThread):
    """The real loop, with the caller's thread held until the work is done: what a busy machine does when it
    preempts the GUI thread right after handing the coroutine over."""

    def submit(self, coro):
        future = super().submit(coro)
        concurrent.futures.wait([future])
        return future


@pytest.fixture
def slow_loop():
    loop = SlowCallerLoop("test-slow-caller")
    yield loop
    loop.stop()


def test_a_coroutine_that_finishes_before_the_caller_returns_still_reports(qtbot, slow_loop) -> None:
    parent = _parent(qtbot)
    results: list[object] = []

    async def quick() -> int:
        return 42

    async def broken() -> None:
        raise ValueError("nope")

    run_async(slow_loop, quick(), parent=parent, on_done=results.append)
    run_async(slow_loop, broken(), parent=parent, on_error=results.append)
    qtbot.waitUntil(lambda: len(results) == 2, timeout=30_000)
    assert results[0] == 42
    assert isinstance(results[1], ValueError) and str(results[1]) == "nope"


def test_results_arrive_on_the_gui_thread_and_a_cancelled_call_reports_nothing(qtbot) -> None:
    parent = _parent(qtbot)
    loop = AsyncLoopThread("test-loop")
    gui = threading.get_ident()
    seen: list[tuple[object, bool]] = []
    release = threading.Event()
    try:
        async def answer() -> str:
            return "ok"

        run_async(loop, answer(), parent=parent, on_done=lambda v: seen.append((v, threading.get_ident() == gui)))
        blocked = run_blocking(lambda: release.wait(30) and "late", parent=parent,
                               on_done=lambda v: seen.append((v, True)), on_error=lambda e: seen.append((e, True)))
        blocked.cancel()
        run_blocking(lambda: "blocking", parent=parent,
                     on_done=lambda v: seen.append((v, threading.get_ident() == gui)))
        qtbot.waitUntil(lambda: len(seen) == 2, timeout=30_000)
        release.set()
        qtbot.wait(200)
        assert sorted(seen, key=str) == [("blocking", True), ("ok", True)]
    finally:
        release.set()
        loop.stop()


def test_a_result_already_on_its_way_is_dropped_when_the_call_is_cancelled(qtbot) -> None:
    parent = _parent(qtbot)
    seen: list[object] = []
    call = run_blocking(lambda: "finished", parent=parent, on_done=seen.append, on_error=seen.append)
    deadline = time.monotonic() + 30
    while call.running and time.monotonic() < deadline:  # the GUI thread does not spin: the result waits in its queue
        time.sleep(0.01)
    time.sleep(0.05)
    assert not call.running and seen == []
    call.cancel()  # e.g. the panel shutting down
    qtbot.wait(200)
    assert seen == []


def test_a_result_for_a_panel_that_has_gone_is_dropped(qtbot) -> None:
    from PySide6.QtWidgets import QWidget

    seen: list[object] = []
    release = threading.Event()
    gone = QWidget()
    run_blocking(lambda: release.wait(30) and "late", parent=gone, on_done=seen.append, on_error=seen.append)
    keeper = _parent(qtbot)
    run_blocking(lambda: release.wait(30) and "kept", parent=keeper, on_done=seen.append)
    gone.deleteLater()  # the panel closes while its call runs
    qtbot.wait(50)
    release.set()
    qtbot.waitUntil(lambda: seen == ["kept"], timeout=30_000)
    qtbot.wait(200)
    assert seen == ["kept"]


def _parent(qtbot):
    from PySide6.QtWidgets import QWidget

    widget = QWidget()
    qtbot.addWidget(widget)
    return widget
