"""The Log view shows the records logged on any thread, at the level chosen, with secrets masked."""

from __future__ import annotations

import logging
import threading

from nexus_core.logs import register_secret


def test_records_from_a_worker_thread_appear_at_the_chosen_level(window, qtbot) -> None:  # type: ignore[no-untyped-def]
    view = window.log_view
    log = logging.getLogger("nexus_core.test_log_view")
    log.setLevel(logging.DEBUG)
    register_secret("sk-view-secret-123456")

    def work() -> None:
        log.debug("a debug line nobody asked for")
        log.warning("the worker says hello with key sk-view-secret-123456")

    thread = threading.Thread(target=work, name="test-log-worker")
    thread.start()
    thread.join()
    qtbot.waitUntil(lambda: "the worker says hello" in view.text.toPlainText(), timeout=10_000)
    text = view.text.toPlainText()
    assert "test-log-worker" in text and "sk-view-secret-123456" not in text and "***" in text
    assert "a debug line nobody asked for" not in text  # the view shows INFO and above by default
    view.level.setCurrentText("DEBUG")
    log.debug("now a debug line is wanted")  # on the GUI thread: shown at once
    assert "now a debug line is wanted" in view.text.toPlainText()
