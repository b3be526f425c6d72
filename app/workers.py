"""Run core work off the GUI thread (coroutines on the core's async loop, blocking calls on a small thread
pool) and get the results back on the GUI thread."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Coroutine
from typing import Any

from PySide6.QtCore import QObject, Signal

from nexus_core.aio import AsyncLoopThread


class AsyncCall(QObject):
    """One coroutine in flight. ``done``/``failed`` fire on the GUI thread; ``cancel()`` stops it."""

    done = Signal(object)
    failed = Signal(object)  # the exception

    def __init__(self, aio: AsyncLoopThread | None, coro: Coroutine[Any, Any, Any] | None,
                 parent: QObject | None = None, *, future: concurrent.futures.Future[Any] | None = None) -> None:
        super().__init__(parent)
        if future is None:
            assert aio is not None and coro is not None
            future = aio.submit(coro)
        self._future: concurrent.futures.Future[Any] = future
        self._future.add_done_callback(self._finished)

    def _finished(self, future: concurrent.futures.Future[Any]) -> None:  # on the loop thread
        if future.cancelled():
            return
        error = future.exception()
        if error is not None:
            self.failed.emit(error)
        else:
            self.done.emit(future.result())

    def cancel(self) -> None:
        self._future.cancel()

    @property
    def running(self) -> bool:
        return not self._future.done()


def run_async(aio: AsyncLoopThread, coro: Coroutine[Any, Any, Any], *, parent: QObject,
              on_done: Callable[[Any], object] | None = None,
              on_error: Callable[[BaseException], object] | None = None) -> AsyncCall:
    """Start ``coro``; the callbacks run on the GUI thread (``parent`` keeps the call alive and owns it)."""
    call = AsyncCall(aio, coro, parent)
    if on_done is not None:
        call.done.connect(on_done)
    if on_error is not None:
        call.failed.connect(on_error)
    call.done.connect(call.deleteLater)
    call.failed.connect(call.deleteLater)
    return call


_POOL = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="gui-worker")


def run_blocking(fn: Callable[[], Any], *, parent: QObject, on_done: Callable[[Any], object] | None = None,
                 on_error: Callable[[BaseException], object] | None = None) -> AsyncCall:
    """Run a blocking core call (a store query, a file scan) on a worker thread; callbacks on the GUI thread.
    The work starts only once the callbacks are connected, so a fast result is never missed."""
    future: concurrent.futures.Future[Any] = concurrent.futures.Future()
    call = AsyncCall(None, None, parent, future=future)
    if on_done is not None:
        call.done.connect(on_done)
    if on_error is not None:
        call.failed.connect(on_error)
    call.done.connect(call.deleteLater)
    call.failed.connect(call.deleteLater)

    def work() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(fn())
        except BaseException as exc:  # handed to on_error on the GUI thread
            future.set_exception(exc)

    _POOL.submit(work)
    return call
