"""The selected module: overview, health history, versions (with rollback) and its worker's log."""

from __future__ import annotations

import html
import time

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QListWidget,
    QPlainTextEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from nexus_core.modules.registry import HealthEntry, ModuleRecord
from nexus_core.modules.service import ModuleStatus


def overview_html(status: ModuleStatus, record: ModuleRecord, credential_state: dict[str, bool]) -> str:
    m = record.manifest
    rows = [("Platform", m.platform), ("Category", m.category), ("Version", f"{status.version} ({status.source})"),
            ("State", status.state.replace("_", " ")), ("Circuit", status.breaker.replace("_", "-")),
            ("Network", ", ".join(m.network_hosts) or "none"),
            ("Built by", m.provenance.built_by + (f" with {m.provenance.model}" if m.provenance.model else ""))]
    if m.approval is not None:
        rows.append(("Approved", f"by {m.approval.approved_by} on {m.approval.approved_at:%Y-%m-%d %H:%M}"))
    table = "".join(f"<tr><td style='padding-right:12px'><b>{html.escape(k)}</b></td><td>{html.escape(v)}</td></tr>"
                    for k, v in rows)
    parts = [f"<h3>{html.escape(m.display_name)}</h3><p>{html.escape(m.description)}</p><table>{table}</table>"]
    if m.credentials:
        items = "".join(f"<li>{html.escape(c.label)} ({html.escape(c.name)}): "
                        f"{'set' if credential_state.get(c.name) else ('<b>not set</b>' if c.required else 'not set')}"
                        "</li>" for c in m.credentials)
        parts.append(f"<p><b>Credentials</b></p><ul>{items}</ul>")
    if status.operations:
        parts.append("<p><b>Operations</b> (tools the agent can call): "
                     + ", ".join(f"<code>{html.escape(status.name)}__{html.escape(o)}</code>"
                                 for o in status.operations)
                     + "</p>")
    if status.last_error:
        parts.append(f"<p style='color:#c0392b'><b>Last error:</b> {html.escape(status.last_error)}</p>")
    return "".join(parts)


class ModuleDetails(QTabWidget):
    rollback_requested = Signal(str, str)  # module, version
    refresh_log_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.overview = QTextBrowser()
        self.health = QTableWidget(0, 5)
        self.health.setHorizontalHeaderLabels(["When", "Kind", "Result", "Latency", "Error"])
        self.health.verticalHeader().setVisible(False)
        self.health.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.health.horizontalHeader().setStretchLastSection(True)
        self.versions = QListWidget()
        self.rollback_button = QPushButton("Make this version active")
        self.rollback_button.setToolTip("Roll the module back (or forward) to the version selected above (asks "
                                        "first)")
        self.rollback_button.clicked.connect(self._rollback)
        versions_tab = QWidget()
        v = QVBoxLayout(versions_tab)
        v.addWidget(self.versions, 1)
        v.addWidget(self.rollback_button)
        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_refresh = QPushButton("Refresh log")
        self.log_refresh.setToolTip("Read the module's latest log lines again")
        self.log_refresh.clicked.connect(self.refresh_log_requested.emit)
        log_tab = QWidget()
        lv = QVBoxLayout(log_tab)
        lv.addWidget(self.log_view, 1)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.log_refresh)
        lv.addLayout(row)
        self.addTab(self.overview, "Overview")
        self.addTab(self.health, "Health")
        self.addTab(versions_tab, "Versions")
        self.addTab(log_tab, "Log")
        self._module: str | None = None
        self._active: str | None = None

    def show_module(self, status: ModuleStatus, record: ModuleRecord, credential_state: dict[str, bool],
                    health: list[HealthEntry], versions: list[tuple[str, float]], log_lines: list[str]) -> None:
        self._module, self._active = status.name, status.version
        self.overview.setHtml(overview_html(status, record, credential_state))
        self.health.setRowCount(len(health))
        for r, entry in enumerate(health):
            cells = [time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(entry.at)), entry.kind,
                     "ok" if entry.ok else "failed",
                     f"{entry.latency_ms:.0f} ms" if entry.latency_ms is not None else "", entry.error or ""]
            for c, text in enumerate(cells):
                self.health.setItem(r, c, QTableWidgetItem(text))
        self.health.resizeColumnsToContents()
        self.versions.clear()
        for version, at in reversed(versions):
            label = f"{version}  (installed {time.strftime('%Y-%m-%d %H:%M', time.localtime(at))})"
            self.versions.addItem(label + ("  ← active" if version == status.version else ""))
        if not versions:
            self.versions.addItem(f"{status.version}  (built in)")
        self.rollback_button.setEnabled(len(versions) > 1)
        self.show_log(log_lines)

    def show_log(self, lines: list[str]) -> None:
        self.log_view.setPlainText("\n".join(lines) if lines else "(no output from the module's worker yet)")

    def _rollback(self) -> None:
        item = self.versions.currentItem()
        if item is None or self._module is None:
            return
        version = item.text().split()[0]
        if version != self._active:
            self.rollback_requested.emit(self._module, version)
