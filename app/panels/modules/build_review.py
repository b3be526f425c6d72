"""The one-click approval of a module the agent built: what it is, what it can reach, how strongly it is
isolated here, the evidence (every check, the tests), and its code — then Install, Reject or Open folder.

Install runs the whole tail of the flow off the GUI thread: install (validated again) → the credentials
dialog when the module needs keys → one real call in its sandbox → live (or disabled, with the reason).
"""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer
from PySide6.QtCore import QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from app.context import AppContext
from app.panels.modules.credentials_dialog import CredentialsDialog
from app.widgets.status_label import StatusLabel
from nexus_core.evolve.builder import BuildResult
from nexus_core.evolve.install import approval_facts, install_build, integration_test, reject_build
from nexus_core.jobs.models import JobEvent, JobState


def code_html(source: str) -> str:
    formatter = HtmlFormatter(noclasses=True, style="default")
    return f"<div style='font-family: monospace'>{highlight(source, PythonLexer(), formatter)}</div>"


class BuildReviewDialog(QDialog):
    """``installed(name)`` fires once the module is live or installed and waiting for credentials."""

    installed = Signal(str)

    def __init__(self, ctx: AppContext, result: BuildResult, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.result = result
        self.facts = approval_facts(result, ctx.core.modules)
        self.open_url: Callable[[QUrl], Any] = QDesktopServices.openUrl  # replaceable in tests
        self.credentials_dialog: CredentialsDialog | None = None
        self._jobs: dict[str, tuple[Any, Callable[[Any], None]]] = {}  # job id → (handle, what to do next)
        facts = self.facts
        self.setWindowTitle(f"Install {facts['display_name']}?")
        self.resize(860, 680)

        heading = QLabel(f"<h3>{html.escape(facts['display_name'])} <small>{html.escape(facts['version'])}"
                         f"</small></h3><p>{html.escape(facts['description'])}</p>")
        heading.setWordWrap(True)
        form = QFormLayout()
        self.fact_labels: dict[str, QLabel] = {}
        for key, label, value in (
                ("hosts", "Can reach", ", ".join(facts["hosts"]) or "no network"),
                ("credentials", "Needs", ", ".join(facts["credentials"]) or "no credentials"),
                ("files", "Files", facts["files"]),
                ("sandbox", "Sandbox here", facts["sandbox"]),
                ("tests", "Tests", facts["tests"]),
                ("operations", "Operations", ", ".join(facts["operations"])),
                ("model", "Written by", f"{facts['model'] or 'the code model'} after {facts['fix_rounds']} "
                                        "fix round(s)")):
            widget = QLabel(html.escape(str(value)))
            widget.setWordWrap(True)
            self.fact_labels[key] = widget
            form.addRow(label, widget)
        self.checks = QTextBrowser()
        self.checks.setHtml("<table cellpadding='2'>" + "".join(
            f"<tr><td>{'✔' if ok else '✘'}</td><td><b>{html.escape(name)}</b></td><td>{html.escape(detail)}</td></tr>"
            for name, ok, detail in facts["checks"]) + "</table>")
        self.code_tabs = QTabWidget()
        self.code_tabs.addTab(self.checks, "Checks")
        for name, source in facts["code"].items():
            view = QTextBrowser()
            view.setHtml(code_html(source))
            self.code_tabs.addTab(view, name)
        self.code_tabs.setCurrentIndex(1 if self.code_tabs.count() > 1 else 0)
        self.status = StatusLabel()
        self.install_button = QPushButton("Install")
        self.install_button.setDefault(True)
        self.install_button.setToolTip("Install the module, ask for its credentials if it needs any, and try one "
                                       "real call in its sandbox")
        self.install_button.clicked.connect(self.install)
        self.reject_button = QPushButton("Reject")
        self.reject_button.setToolTip("Do not install it; the build is recorded as rejected")
        self.reject_button.clicked.connect(self.reject_build)
        self.folder_button = QPushButton("Open folder")
        self.folder_button.setToolTip("Open the built module's folder to read its files")
        self.folder_button.clicked.connect(lambda: self.open_url(QUrl.fromLocalFile(str(facts["folder"]))))
        self.close_button = QPushButton("Close")
        self.close_button.setToolTip("Close this review")
        self.close_button.clicked.connect(self.accept)
        self.close_button.setVisible(False)
        buttons = QHBoxLayout()
        buttons.addWidget(self.folder_button)
        buttons.addStretch(1)
        for button in (self.reject_button, self.install_button, self.close_button):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addLayout(form)
        layout.addWidget(self.code_tabs, 1)
        layout.addWidget(self.status)
        layout.addLayout(buttons)
        ctx.job_events.fired.connect(self._job_event)

    # ---- jobs --------------------------------------------------------------------------------------

    def _job(self, what: str, fn: Callable[[], Any], then: Callable[[Any], None]) -> None:
        handle = self.ctx.core.runner.submit(lambda _ctx: fn(), name=what)
        self._jobs[handle.id] = (handle, then)
        self.status.show_info(f"{what}…")

    def _job_event(self, event: JobEvent) -> None:
        job = event.job
        entry = self._jobs.get(job.id)
        if entry is None or not job.state.finished:
            return
        del self._jobs[job.id]
        handle, then = entry
        if job.state is JobState.SUCCEEDED:
            then(handle.result(timeout=5))
        else:
            self.status.show_error((job.error or "failed").splitlines()[0])
            self._finish()

    # ---- actions -----------------------------------------------------------------------------------

    def install(self) -> None:
        self.install_button.setEnabled(False)
        self.reject_button.setEnabled(False)
        records = self.ctx.core.builder.records
        self._job(f"Installing {self.facts['name']}",
                  lambda: install_build(self.ctx.core.modules, self.result, records=records).missing_credentials,
                  self._installed)

    def _installed(self, missing: list[str]) -> None:
        self.installed.emit(self.facts["name"])
        if missing:
            self._ask_credentials()
        else:
            self._integration_test()

    def _ask_credentials(self) -> None:
        name = self.facts["name"]
        modules = self.ctx.core.modules
        record = modules.registry.record(name)
        dialog = CredentialsDialog(name, record.manifest.credentials, {}, self)
        self.credentials_dialog = dialog

        def save() -> None:
            values = dialog.values()
            self._job(f"Saving the credentials of {name}",
                      lambda: [modules.set_credential(name, key, value) for key, value in values.items()],
                      lambda _r: self._integration_test())

        dialog.accepted.connect(save)
        dialog.rejected.connect(lambda: (self.status.show_info(
            f"{name} is installed; it waits for its credentials (Modules panel → Credentials)."), self._finish()))
        dialog.open()

    def _integration_test(self) -> None:
        records = self.ctx.core.builder.records
        self._job(f"Integration test of {self.facts['name']}",
                  lambda: integration_test(self.ctx.core.modules, self.result, records), self._tested)

    def _tested(self, outcome: Any) -> None:
        if outcome.status == "live":
            self.status.show_info(f"Live: {outcome.detail}.")
        elif outcome.status == "needs_credentials":
            self.status.show_info(outcome.detail)
        else:
            self.status.show_error(outcome.detail)
        self._finish()

    def _finish(self) -> None:
        self.install_button.setVisible(False)
        self.reject_button.setVisible(False)
        self.close_button.setVisible(True)

    def reject_build(self) -> None:
        reject_build(self.result, self.ctx.core.builder.records)
        self.reject()

    @property
    def folder(self) -> Path:
        return Path(self.facts["folder"])
