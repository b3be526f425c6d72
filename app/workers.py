"""Run core work off the GUI thread (coroutines on the core's async loop, blocking calls on a small thread
pool) and get the results back on the GUI thread."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Coroutine
from typing import Any

from PySide6.QtCore import QObject, Signal

from nexus_core.aio import AsyncLoopThread


class AsyncCall(QObject):
    """One piece of work in flight. ``done``/``failed`` fire on the GUI thread; after ``cancel()`` neither does.

    The work is handed over with ``start`` only after the callbacks are connected: a result that arrived
    before that would be emitted to nobody and lost (a fast loopback answer on a busy machine did exactly that).
    """

    done = Signal(object)
    failed = Signal(object)  # the exception
    _result = Signal(object)  # from the worker or loop thread; re-emitted on the GUI thread unless cancelled
    _error = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._future: concurrent.futures.Future[Any] | None = None
        self._cancelled = False
        self._result.connect(self._deliver_result)  # queued: this object lives on the GUI thread
        self._error.connect(self._deliver_error)

    def start(self, future: concurrent.futures.Future[Any]) -> None:
        self._future = future
        if self._cancelled:
            future.cancel()
        future.add_done_callback(self._finished)

    def _finished(self, future: concurrent.futures.Future[Any]) -> None:  # on the worker or loop thread
        if future.cancelled():
            return
        error = future.exception()
        if error is not None:
            self._error.emit(error)
        else:
            self._result.emit(future.result())

    # Checked on the GUI thread, where cancel() is called: a result that was on its way when the call was
    # cancelled (a blocking call cannot be interrupted) is dropped, never handed to a panel that shut down.
    def _deliver_result(self, value: object) -> None:
        if not self._cancelled:
            self.done.emit(value)

    def _deliver_error(self, error: object) -> None:
        if not self._cancelled:
            self.failed.emit(error)

    def cancel(self) -> None:
        self._cancelled = True
        if self._future is not None:
            self._future.cancel()

    @property
    def running(self) -> bool:
        return self._future is not None and not self._future.done()


def _connect(call: AsyncCall, on_done: Callable[[Any], object] | None,
             on_error: Callable[[BaseException], object] | None) -> None:
    if on_done is not None:
        call.done.connect(on_done)
    if on_error is not None:
        call.failed.connect(on_error)
    call.done.connect(call.deleteLater)
    call.failed.connect(call.deleteLater)


def run_async(aio: AsyncLoopThread, coro: Coroutine[Any, Any, Any], *, parent: QObject,
              on_done: Callable[[Any], object] | None = None,
              on_error: Callable[[BaseException], object] | None = None) -> AsyncCall:
    """Start ``coro``; the callbacks run on the GUI thread (``parent`` keeps the call alive and owns it)."""
    call = AsyncCall(parent)
    _connect(call, on_done, on_error)
    call.start(aio.submit(coro))
    return call


_POOL = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="gui-worker")


def run_blocking(fn: Callable[[], Any], *, parent: QObject, on_done: Callable[[Any], object] | None = None,
                 on_error: Callable[[BaseException], object] | None = None) -> AsyncCall:
    """Run a blocking core call (a store query, a file scan) on a worker thread; callbacks on the GUI thread."""
    future: concurrent.futures.Future[Any] = concurrent.futures.Future()
    call = AsyncCall(parent)
    _connect(call, on_done, on_error)
    call.start(future)

    def work() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(fn())
        except BaseException as exc:  # handed to on_error on the GUI thread
            future.set_exception(exc)

    _POOL.submit(work)
    return call
