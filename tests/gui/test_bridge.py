"""Core events reach Qt code on the GUI thread, whichever thread fired them, and stop once the bridge is closed
or its owner is gone."""

from __future__ import annotations

import threading

import shiboken6
from PySide6.QtWidgets import QWidget

from app.bridge import EmitterBridge
from nexus_core.events import Emitter


def _fire_from_worker(emitter: Emitter[int], value: int) -> None:
    thread = threading.Thread(target=emitter.emit, args=(value,), name="test-core-worker")
    thread.start()
    thread.join()


def test_events_from_a_worker_arrive_on_the_gui_thread_in_order(qtbot) -> None:  # type: ignore[no-untyped-def]
    owner = QWidget()
    qtbot.addWidget(owner)
    emitter: Emitter[int] = Emitter("test.values")
    bridge = EmitterBridge(emitter, owner)
    got: list[tuple[int, int]] = []
    bridge.fired.connect(lambda value: got.append((value, threading.get_ident())))
    thread = threading.Thread(target=lambda: [emitter.emit(i) for i in range(50)])
    thread.start()
    thread.join()
    qtbot.waitUntil(lambda: len(got) == 50, timeout=10_000)
    assert [v for v, _ in got] == list(range(50))
    assert {t for _, t in got} == {threading.get_ident()}
    emitter.emit(99)  # from the GUI thread itself: at once
    assert got[-1] == (99, threading.get_ident())


def test_a_closed_bridge_or_one_whose_owner_went_delivers_nothing(qtbot) -> None:  # type: ignore[no-untyped-def]
    emitter: Emitter[int] = Emitter("test.values")
    kept, gone = QWidget(), QWidget()
    qtbot.addWidget(kept)
    closed_bridge = EmitterBridge(emitter, kept)
    orphan = EmitterBridge(emitter, gone)
    live = EmitterBridge(emitter, kept)
    got: list[str] = []
    closed_bridge.fired.connect(lambda _v: got.append("closed"))
    orphan.fired.connect(lambda _v: got.append("orphan"))
    live.fired.connect(lambda _v: got.append("live"))
    closed_bridge.close()
    shiboken6.delete(gone)  # the owner is destroyed, and the bridge with it, while the core still knows the bridge
    assert not shiboken6.isValid(orphan)
    _fire_from_worker(emitter, 1)
    qtbot.waitUntil(lambda: got == ["live"], timeout=10_000)
    qtbot.wait(50)
    assert got == ["live"]
