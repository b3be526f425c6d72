"""Unhandled exceptions anywhere end in a dialog and the log, never a silent exit."""

from __future__ import annotations

import sys
import threading

from PySide6.QtCore import QTimer


def test_unhandled_exception_in_a_slot_opens_the_dialog_and_is_logged(window, qtbot) -> None:
    router = window.errors
    router.install()
    try:
        def explode() -> None:
            raise RuntimeError("slot blew up")

        QTimer.singleShot(0, explode)
        qtbot.waitUntil(lambda: len(router.dialogs) == 1, timeout=3000)
    finally:
        router.uninstall()
    dialog = router.dialogs[0]
    assert "RuntimeError: slot blew up" in dialog.message_label.text()
    assert "explode" in dialog.details
    assert window.isVisible()
    log_text = window.ctx.core.paths.log_file.read_text()
    assert "slot blew up" in log_text


def test_unhandled_exception_in_a_thread_opens_the_dialog(window, qtbot) -> None:
    router = window.errors
    router.install()
    try:
        thread = threading.Thread(target=lambda: 1 / 0, name="worker-x")
        thread.start()
        thread.join()
        qtbot.waitUntil(lambda: len(router.dialogs) == 1, timeout=3000)
    finally:
        router.uninstall()
    assert "ZeroDivisionError" in router.dialogs[0].message_label.text()
    assert sys.excepthook is not router._sys_hook


def test_details_toggle_and_secrets_are_redacted(window, qtbot) -> None:
    window.errors.report("Provider failed", "HTTP 401", "Authorization: Bearer sk-or-v1-abcdefghijklmnop")
    qtbot.waitUntil(lambda: len(window.errors.dialogs) == 1, timeout=3000)
    dialog = window.errors.dialogs[0]
    assert "abcdefghijklmnop" not in dialog.details
    assert not dialog.details_view.isVisible()
    dialog.details_button.click()
    assert dialog.details_view.isVisible()
    assert "abcdefghijklmnop" not in dialog.details_view.toPlainText()


def test_repaired_settings_are_shown_as_a_warning(window, qtbot) -> None:
    window.errors.report("Some settings were repaired", "settings.json: 'theme' was invalid", warning=True)
    qtbot.waitUntil(lambda: len(window.errors.dialogs) == 1, timeout=3000)
    assert window.errors.dialogs[0].warning
