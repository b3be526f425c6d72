"""Emitter: the thread-safe, Qt-free signal every core object publishes on."""

from __future__ import annotations

import logging
import threading

import pytest

from nexus_core.events import Emitter


def test_callbacks_receive_each_value_in_order() -> None:
    emitter: Emitter[int] = Emitter("numbers")
    first: list[int] = []
    second: list[int] = []
    emitter.connect(first.append)
    emitter.connect(second.append)

    for value in (3, 1, 4):
        emitter.emit(value)

    assert first == [3, 1, 4]
    assert second == [3, 1, 4]
    assert len(emitter) == 2


def test_callbacks_run_in_the_emitting_thread() -> None:
    emitter: Emitter[str] = Emitter()
    seen: list[tuple[str, str]] = []
    emitter.connect(lambda v: seen.append((v, threading.current_thread().name)))

    worker = threading.Thread(target=emitter.emit, args=("hi",), name="emitting-worker")
    worker.start()
    worker.join(10)

    assert seen == [("hi", "emitting-worker")]


def test_disconnect_through_the_returned_callable() -> None:
    emitter: Emitter[int] = Emitter()
    got: list[int] = []
    disconnect = emitter.connect(got.append)
    emitter.emit(1)

    disconnect()
    emitter.emit(2)

    assert got == [1]
    assert len(emitter) == 0
    disconnect()  # a second call is harmless


def test_disconnect_method_and_unknown_callback() -> None:
    emitter: Emitter[int] = Emitter()
    kept: list[int] = []
    dropped: list[int] = []

    def drop(value: int) -> None:
        dropped.append(value)

    emitter.connect(kept.append)
    emitter.connect(drop)
    emitter.emit(1)

    emitter.disconnect(drop)
    emitter.disconnect(lambda v: None)  # never connected: ignored
    emitter.emit(2)

    assert kept == [1, 2]
    assert dropped == [1]
    assert len(emitter) == 1


def test_a_failing_subscriber_is_logged_and_others_still_run(caplog: pytest.LogCaptureFixture) -> None:
    emitter: Emitter[int] = Emitter("telemetry")
    before: list[int] = []
    after: list[int] = []

    def broken(value: int) -> None:
        raise ZeroDivisionError(f"cannot handle {value}")

    emitter.connect(before.append)
    emitter.connect(broken)
    emitter.connect(after.append)

    with caplog.at_level(logging.ERROR, logger="nexus_core.events"):
        emitter.emit(7)  # must not raise

    assert before == [7] and after == [7]
    errors = [r for r in caplog.records if r.name == "nexus_core.events" and r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "telemetry" in errors[0].getMessage()
    assert errors[0].exc_info is not None and errors[0].exc_info[0] is ZeroDivisionError
    assert "cannot handle 7" in str(errors[0].exc_info[1])


def test_a_subscriber_may_disconnect_itself_while_being_called() -> None:
    emitter: Emitter[int] = Emitter()
    got: list[int] = []
    other: list[int] = []

    def once(value: int) -> None:
        got.append(value)
        emitter.disconnect(once)

    emitter.connect(once)
    emitter.connect(other.append)
    emitter.emit(1)
    emitter.emit(2)

    assert got == [1]
    assert other == [1, 2]


def test_concurrent_emission_delivers_every_value() -> None:
    emitter: Emitter[tuple[int, int]] = Emitter("concurrent")
    received: list[tuple[int, int]] = []
    lock = threading.Lock()

    def collect(value: tuple[int, int]) -> None:
        with lock:
            received.append(value)

    emitter.connect(collect)
    threads_n, per_thread = 8, 500
    barrier = threading.Barrier(threads_n)

    def emit_many(t: int) -> None:
        barrier.wait(10)
        for i in range(per_thread):
            emitter.emit((t, i))

    threads = [threading.Thread(target=emit_many, args=(t,)) for t in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)

    assert not any(t.is_alive() for t in threads)
    assert sorted(received) == [(t, i) for t in range(threads_n) for i in range(per_thread)]
    for t in range(threads_n):  # each thread's values arrive in the order that thread emitted them
        assert [i for (tt, i) in received if tt == t] == list(range(per_thread))


def test_connecting_while_others_emit_is_safe() -> None:
    emitter: Emitter[int] = Emitter()
    stop = threading.Event()
    counts: list[int] = []

    def emit_forever() -> None:
        while not stop.is_set():
            emitter.emit(1)

    worker = threading.Thread(target=emit_forever)
    worker.start()
    try:
        for _ in range(200):
            bucket: list[int] = []
            disconnect = emitter.connect(bucket.append)
            disconnect()
            counts.append(len(bucket))
    finally:
        stop.set()
        worker.join(10)
    assert len(emitter) == 0
    assert len(counts) == 200
