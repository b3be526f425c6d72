"""Run core work off the GUI thread (coroutines on the core's async loop, blocking calls on a small thread
pool) and get the results back on the GUI thread.

One long-lived QObject on the GUI thread carries every result across (a queued signal); a call itself is a plain
object. An earlier design made a QObject per call, parented to the panel and removed with ``deleteLater``; with
PySide 6.11 that crashed now and then when the panel went away in the same moment (a deferred delete of an
object that was already gone).
"""

from __future__ import annotations

import concurrent.futures
import functools
import threading
import weakref
from collections.abc import Callable, Coroutine
from typing import Any

import shiboken6
from PySide6.QtCore import QCoreApplication, QObject, Qt, QThread, Signal, Slot

from nexus_core.aio import AsyncLoopThread


class _Dispatcher(QObject):
    """Runs, on the GUI thread, what other threads hand it.

    The receiver is a decorated slot of an object that lives on the GUI thread and the connection is queued
    explicitly: PySide has crashed on signals emitted from Python threads into plain callables, and this is the one
    place where other threads reach the GUI.
    """

    handed = Signal(object)

    def __init__(self) -> None:
        super().__init__()
        app = QCoreApplication.instance()
        if app is not None and self.thread() is not app.thread():
            self.moveToThread(app.thread())
        self.handed.connect(self._run, Qt.ConnectionType.QueuedConnection)

    @Slot(object)
    def _run(self, thunk: Callable[[], None]) -> None:
        thunk()


_DISPATCHER: _Dispatcher | None = None
_DISPATCHER_LOCK = threading.Lock()


def ensure_dispatcher() -> _Dispatcher:
    """Made on first use (normally on the GUI thread; moved there otherwise)."""
    global _DISPATCHER
    with _DISPATCHER_LOCK:
        if _DISPATCHER is None:
            _DISPATCHER = _Dispatcher()
        return _DISPATCHER


def call_on_gui_thread(thunk: Callable[[], None]) -> None:
    """Run ``thunk`` on the GUI thread, after the events already queued there; from any thread."""
    ensure_dispatcher().handed.emit(thunk)


def on_gui_thread() -> bool:
    app = QCoreApplication.instance()
    return app is not None and QThread.currentThread() is app.thread()


def deliver_to(owner: QObject, fn: Callable[..., object], *args: Any) -> None:
    """Call ``fn(*args)`` on the GUI thread while ``owner`` still exists: at once when called there, otherwise
    queued behind the events already waiting. How code on other threads (core events, log records, errors) reaches
    widgets."""
    if on_gui_thread():
        if shiboken6.isValid(owner):
            fn(*args)
        return
    ref = weakref.ref(owner)

    def run() -> None:
        alive = ref()
        if alive is not None and shiboken6.isValid(alive):
            fn(*args)

    call_on_gui_thread(run)


class AsyncCall:
    """One piece of work in flight; its callbacks run on the GUI thread, unless the call was cancelled or its
    ``parent`` widget has gone by then (a blocking call cannot be interrupted, and its result must not reach a panel
    that has shut down).

    The work is handed over with ``start`` only once the callbacks are in place: a result that arrived before that
    would be lost (a fast loopback answer on a busy machine once was).
    """

    def __init__(self, parent: QObject, on_done: Callable[[Any], object] | None,
                 on_error: Callable[[BaseException], object] | None) -> None:
        self._parent = weakref.ref(parent)
        self._on_done, self._on_error = on_done, on_error
        ensure_dispatcher()  # made here, on the GUI thread, before any worker needs it
        self._future: concurrent.futures.Future[Any] | None = None
        self._cancelled = False

    def start(self, future: concurrent.futures.Future[Any]) -> None:
        self._future = future
        if self._cancelled:
            future.cancel()
        future.add_done_callback(self._finished)

    def _finished(self, future: concurrent.futures.Future[Any]) -> None:  # on the worker or loop thread
        if future.cancelled() or self._cancelled:
            return
        error = future.exception()
        value = None if error is not None else future.result()
        call_on_gui_thread(functools.partial(self._deliver, value, error))

    def _deliver(self, value: Any, error: BaseException | None) -> None:  # on the GUI thread
        parent = self._parent()
        if self._cancelled or parent is None or not shiboken6.isValid(parent):
            return
        if error is not None:
            if self._on_error is not None:
                self._on_error(error)
        elif self._on_done is not None:
            self._on_done(value)

    def cancel(self) -> None:
        self._cancelled = True
        if self._future is not None:
            self._future.cancel()

    @property
    def running(self) -> bool:
        return self._future is not None and not self._future.done()


def run_async(aio: AsyncLoopThread, coro: Coroutine[Any, Any, Any], *, parent: QObject,
              on_done: Callable[[Any], object] | None = None,
              on_error: Callable[[BaseException], object] | None = None) -> AsyncCall:
    """Start ``coro``; the callbacks run on the GUI thread while ``parent`` exists."""
    call = AsyncCall(parent, on_done, on_error)
    call.start(aio.submit(coro))
    return call


_POOL = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="gui-worker")


def run_blocking(fn: Callable[[], Any], *, parent: QObject, on_done: Callable[[Any], object] | None = None,
                 on_error: Callable[[BaseException], object] | None = None) -> AsyncCall:
    """Run a blocking core call (a store query, a file scan) on a worker thread; callbacks on the GUI thread while
    ``parent`` exists."""
    future: concurrent.futures.Future[Any] = concurrent.futures.Future()
    call = AsyncCall(parent, on_done, on_error)
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
