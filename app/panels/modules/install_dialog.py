"""Install a module folder: the validation report, what it will reach, and one click to approve."""

from __future__ import annotations

import html

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

from nexus_core.modules.validate import ValidationReport


def report_html(report: ValidationReport) -> str:
    parts = []
    m = report.manifest
    if m is not None:
        parts.append(f"<h3>{html.escape(m.display_name)} {html.escape(m.version)}</h3>"
                     f"<p>{html.escape(m.description)}</p>"
                     f"<p><b>Network:</b> {html.escape(', '.join(m.network_hosts) or 'none')}<br>"
                     f"<b>Credentials:</b> {html.escape(', '.join(c.name for c in m.credentials) or 'none')}<br>"
                     f"<b>Sandbox on this machine:</b> {html.escape(report.sandbox or 'not run')}</p>")
    rows = "".join(f"<tr><td>{'✔' if c.passed else '✘'}</td><td><b>{html.escape(c.name)}</b></td>"
                   f"<td>{html.escape(c.detail)}</td></tr>" for c in report.checks)
    parts.append(f"<table cellpadding='3'>{rows}</table>")
    verdict = ("<p><b>All checks passed.</b> Install it?</p>" if report.passed
               else "<p style='color:#c0392b'><b>Validation failed: it cannot be installed.</b></p>")
    parts.append(verdict)
    return "".join(parts)


class InstallDialog(QDialog):
    def __init__(self, report: ValidationReport, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Install module")
        self.resize(640, 420)
        self.report = report
        self.body = QTextBrowser()
        self.body.setHtml(report_html(report))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.install_button = buttons.addButton("Approve and install", QDialogButtonBox.ButtonRole.AcceptRole)
        self.install_button.setToolTip("Install the module as checked above; it runs in its sandbox with only what "
                                       "it declared")
        self.install_button.setEnabled(report.passed)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.body, 1)
        layout.addWidget(buttons)
