"""The Jobs view, driven through its widgets: progress bars, cancel/pause buttons, failures, history."""

from __future__ import annotations

import threading

from PySide6.QtCore import QPoint, Qt

from app.errors import ErrorDialog
from nexus_core.jobs import JobContext, JobState


def _stepper(ctx: JobContext, steps: int, gate: list[threading.Event]) -> int:
    """Advances one step each time the test opens the next gate, so the test sees each value."""
    for step in range(steps):
        while not gate[step].wait(0.05):
            ctx.check()
        ctx.progress((step + 1) / steps, f"step {step + 1} of {steps}")
    return steps


def _loop_until_cancelled(ctx: JobContext) -> None:
    while True:
        ctx.check()
        ctx.sleep(0.02)


def _boom(ctx: JobContext) -> None:
    ctx.progress(0.5, "about to fail")
    raise ValueError("the teacher checkpoint is truncated")


def test_progress_bar_follows_a_running_job(window, qtbot) -> None:
    gates = [threading.Event() for _ in range(4)]
    handle = window.ctx.core.runner.submit(_stepper, 4, gates, name="Four steps")
    view = window.jobs_view
    qtbot.waitUntil(lambda: view.row(handle.id) is not None, timeout=3000)
    assert "1 running" in view.summary.text()
    assert window.jobs_button.text() == "1 job running"
    for step in range(4):
        gates[step].set()
        expected = round((step + 1) / 4 * 1000)
        qtbot.waitUntil(lambda e=expected: view.progress_bar(handle.id).value() == e, timeout=5000)
    qtbot.waitUntil(lambda: view.row(handle.id).item.text(1) == "Done", timeout=5000)
    assert view.progress_bar(handle.id).text() == "100%"
    assert not view.cancel_button(handle.id).isVisible()
    assert window.jobs_button.text() == "No jobs running"


def test_cancel_button_stops_the_job(window, qtbot) -> None:
    handle = window.ctx.core.runner.submit(_loop_until_cancelled, name="Endless")
    view = window.jobs_view
    qtbot.waitUntil(lambda: view.row(handle.id) is not None
                    and view.row(handle.id).snapshot.state is JobState.RUNNING, timeout=3000)
    button = view.cancel_button(handle.id)
    assert button.isVisible()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton, pos=QPoint(3, 3))
    qtbot.waitUntil(lambda: view.row(handle.id).item.text(1) == "Cancelled", timeout=5000)
    assert handle.snapshot.state is JobState.CANCELLED


def test_pause_and_resume_buttons(window, qtbot) -> None:
    handle = window.ctx.core.runner.submit(_loop_until_cancelled, name="Pausable")
    view = window.jobs_view
    qtbot.waitUntil(lambda: view.row(handle.id) is not None
                    and view.row(handle.id).snapshot.state is JobState.RUNNING, timeout=3000)
    qtbot.mouseClick(view.pause_button(handle.id), Qt.MouseButton.LeftButton, pos=QPoint(3, 3))
    qtbot.waitUntil(lambda: view.row(handle.id).item.text(1) == "Paused", timeout=3000)
    assert view.pause_button(handle.id).text() == "Resume"
    qtbot.mouseClick(view.pause_button(handle.id), Qt.MouseButton.LeftButton, pos=QPoint(3, 3))
    qtbot.waitUntil(lambda: view.row(handle.id).item.text(1) == "Running", timeout=3000)
    handle.cancel()
    handle.wait(5)


def test_a_failing_job_opens_the_error_dialog(window, qtbot) -> None:
    handle = window.ctx.core.runner.submit(_boom, name="Load teacher")
    qtbot.waitUntil(lambda: len(window.errors.dialogs) == 1, timeout=5000)
    dialog = window.errors.dialogs[0]
    assert isinstance(dialog, ErrorDialog)
    assert dialog.isVisible()
    assert dialog.windowTitle() == "Job failed: Load teacher"
    assert "the teacher checkpoint is truncated" in dialog.message_label.text()
    assert "_boom" in dialog.details
    view = window.jobs_view
    qtbot.waitUntil(lambda: view.row(handle.id).item.text(1) == "Failed", timeout=3000)
    assert "truncated" in view.row(handle.id).item.text(5)
    # the details stay reachable from the history: double-click opens the dialog again
    dialog.close()
    qtbot.waitUntil(lambda: not window.errors.dialogs, timeout=3000)
    view.tree.itemDoubleClicked.emit(view.row(handle.id).item, 0)
    qtbot.waitUntil(lambda: len(window.errors.dialogs) == 1, timeout=3000)


def test_history_from_earlier_sessions_is_listed(make_window, qtbot, nexus_home) -> None:
    first = make_window()
    handle = first.ctx.core.runner.submit(lambda ctx: 42, name="Earlier job")
    assert handle.result(5) == 42
    first.close()
    first.ctx.core.close()

    second = make_window()
    rows = second.jobs_view.rows
    assert handle.id in rows
    assert rows[handle.id].item.text(0) == "Earlier job"
    assert rows[handle.id].item.text(1) == "Done"


def test_filter_and_clear_finished(window, qtbot) -> None:
    runner = window.ctx.core.runner
    done = runner.submit(lambda ctx: None, name="Quick")
    done.wait(5)
    running = runner.submit(_loop_until_cancelled, name="Still going")
    view = window.jobs_view
    qtbot.waitUntil(lambda: running.id in view.rows and view.rows[running.id].snapshot.state.active, timeout=3000)
    qtbot.waitUntil(lambda: done.id in view.rows and view.rows[done.id].snapshot.state.finished, timeout=3000)
    view.filter.setCurrentIndex(view.filter.findData("active"))
    assert view.rows[done.id].item.isHidden()
    assert not view.rows[running.id].item.isHidden()
    view.clear_finished(confirm=False)
    assert done.id not in view.rows and running.id in view.rows
    assert all(s.id != done.id for s in runner.history())
    running.cancel()
    running.wait(5)


def test_elapsed_time_moves_for_a_job_that_reports_nothing(window, qtbot) -> None:
    handle = window.ctx.core.runner.submit(_loop_until_cancelled, name="Silent")
    view = window.jobs_view
    qtbot.waitUntil(lambda: view.row(handle.id) is not None
                    and view.row(handle.id).snapshot.state is JobState.RUNNING, timeout=3000)
    qtbot.waitUntil(lambda: view.row(handle.id).item.text(4) not in ("", "00:00"), timeout=4000)
    handle.cancel()
    handle.wait(5)
    qtbot.waitUntil(lambda: not view._ticker.isActive(), timeout=3000)
