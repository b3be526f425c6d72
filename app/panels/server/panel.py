"""The local server panel: start/stop the OpenAI-compatible API, where it listens, its token (show, copy,
rotate), who may call it from a browser, the models it offers, an example call, and every request as it is
served. A thin view over ``core.server``; starting, stopping and the token go through a worker thread."""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from app.bridge import EmitterBridge
from app.context import AppContext
from app.panels.registry import Panel
from app.widgets.status_label import StatusLabel
from app.workers import run_blocking
from nexus_core.errors import NexusError
from nexus_core.server.api import RequestLogEntry
from nexus_core.server.service import ServerState

ADDRESSES = (("127.0.0.1", "This computer only (127.0.0.1)"), ("0.0.0.0", "The local network too (0.0.0.0)"))
LOG_ROWS = 200
TOGGLE_TIPS = {False: "Start the local OpenAI-compatible server for other programs to use",
               True: "Stop the server; clients can no longer connect"}


class ServerPanel(Panel):
    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx)
        server, settings = ctx.core.server, ctx.core.settings
        self._pending: Any = None

        self.toggle = QPushButton("Start server")
        self.toggle.setCheckable(True)
        self.toggle.setToolTip(TOGGLE_TIPS[False])
        self.toggle.clicked.connect(self._toggle)
        self.state_label = QLabel()
        self.state_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.counts = QLabel()
        self.counts.setObjectName("muted")
        self.status = StatusLabel()

        self.address = QComboBox()
        for value, label in ADDRESSES:
            self.address.addItem(label, value)
        if settings.server_host not in (v for v, _ in ADDRESSES):
            self.address.addItem(settings.server_host, settings.server_host)
        self.address.setCurrentIndex(self.address.findData(settings.server_host))
        self.address.setToolTip("Who may connect: only programs on this computer, or other machines on your network "
                                "too (they still need the token)")
        self.port = QSpinBox()
        self.port.setRange(0, 65535)
        self.port.setValue(settings.server_port)
        self.port.setSpecialValueText("any free port")
        self.port.setToolTip("The port the server listens on (0: any free one); a running server moves at its next "
                             "start")
        self.autostart = QCheckBox("Start with the app")
        self.autostart.setChecked(settings.server_enabled)
        self.autostart.setToolTip("Start the server whenever Nexus Studio starts")
        self.cors = QLineEdit(", ".join(settings.server_cors_origins))
        self.cors.setPlaceholderText("off — e.g. http://localhost:3000 (comma-separated; * for any)")
        self.cors.setToolTip("Web pages from these origins may call the server from a browser (empty: none)")
        self.risky = QCheckBox("Let nexus/agent run installed modules' risky tools without asking")
        self.risky.setChecked(settings.server_agent_risky_tools)
        self.risky.setToolTip("Requests to the nexus/agent model may run tools that need approval, with no one "
                              "there to approve them")
        for widget in (self.address, self.port):
            (widget.currentIndexChanged if isinstance(widget, QComboBox) else widget.valueChanged).connect(
                lambda *_a: self._save_settings())
        self.autostart.toggled.connect(lambda *_a: self._save_settings())
        self.risky.toggled.connect(lambda *_a: self._save_settings())
        self.cors.editingFinished.connect(self._save_settings)
        form = QFormLayout()
        form.addRow("Listen on", self.address)
        form.addRow("Port", self.port)
        form.addRow("Browsers (CORS)", self.cors)
        form.addRow("", self.autostart)
        form.addRow("", self.risky)
        settings_box = QGroupBox("Settings")
        settings_box.setLayout(form)

        self.token_field = QLineEdit()
        self.token_field.setReadOnly(True)
        self.token_field.setEchoMode(QLineEdit.EchoMode.Password)
        self.token_field.setPlaceholderText("made when the server first starts")
        self.token_field.setToolTip("The token clients send as their API key (Bearer token); hidden until you press "
                                    "Show")
        self.show_token = QPushButton("Show")
        self.show_token.setCheckable(True)
        self.show_token.setToolTip("Show or hide the token")
        self.show_token.toggled.connect(self._show_token)
        self.copy_token = QPushButton("Copy")
        self.copy_token.setToolTip("Copy the token to the clipboard")
        self.copy_token.clicked.connect(self._copy_token)
        self.rotate = QPushButton("Rotate…")
        self.rotate.setToolTip("Make a new token; programs using the old one are refused from then on.")
        self.rotate.clicked.connect(self._rotate)
        token_row = QHBoxLayout()
        token_row.addWidget(self.token_field, 1)
        for button in (self.show_token, self.copy_token, self.rotate):
            token_row.addWidget(button)
        token_box = QGroupBox("Bearer token (clients send it as their API key)")
        token_box.setLayout(token_row)

        self.models = QLabel()
        self.models.setWordWrap(True)
        self.models.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.example = QPlainTextEdit()
        self.example.setReadOnly(True)
        self.example.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.example.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.example.setMinimumHeight(190)
        self.copy_example = QPushButton("Copy example")
        self.copy_example.setToolTip("Copy the example request above to the clipboard")
        self.copy_example.clicked.connect(lambda: self._copy(self.example.toPlainText(), "Example copied."))
        use_box = QGroupBox("Use it")
        use_layout = QVBoxLayout(use_box)
        use_layout.addWidget(self.models)
        use_layout.addWidget(self.example)
        use_layout.addWidget(self.copy_example, 0, Qt.AlignmentFlag.AlignRight)

        self.log = QTableWidget(0, 7)
        self.log.setHorizontalHeaderLabels(["Time", "Client", "Request", "Model", "Status", "ms", "Note"])
        self.log.verticalHeader().setVisible(False)
        self.log.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.log.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.log.horizontalHeader().setStretchLastSection(True)
        log_box = QGroupBox("Requests")
        log_layout = QVBoxLayout(log_box)
        log_layout.addWidget(self.log)

        top = QHBoxLayout()
        top.addWidget(self.toggle)
        top.addWidget(self.state_label, 1)
        top.addWidget(self.counts)
        columns = QHBoxLayout()
        left = QVBoxLayout()
        left.addWidget(settings_box)
        left.addWidget(token_box)
        left.addStretch(1)
        columns.addLayout(left, 1)
        columns.addWidget(use_box, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.status)
        layout.addLayout(columns)
        layout.addWidget(log_box, 1)

        self._state_bridge = EmitterBridge(server.changed, self)
        self._state_bridge.fired.connect(self._show_state)
        self._log_bridge = EmitterBridge(server.api.requests, self)
        self._log_bridge.fired.connect(self._add_request)
        backlog = list(server.api.recent)[-LOG_ROWS:]
        # a request logged between connecting and copying the backlog also arrives as an event: shown once
        self._backlog = set(backlog)
        for entry in backlog:
            self._add_request(entry, from_backlog=True)
        self._show_state(server.state)

    # ---- views ---------------------------------------------------------------------------------------------------

    def panel_shown(self) -> None:
        self._show_state(self.ctx.core.server.state)

    def _show_state(self, state: ServerState) -> None:
        busy = self._pending is not None
        self.toggle.setChecked(state.running)
        self.toggle.setText("Stop server" if state.running else "Start server")
        self.toggle.setToolTip(TOGGLE_TIPS[state.running])
        self.toggle.setEnabled(not busy)
        if state.running:
            self.state_label.setText(f"Running at {state.base_url}")
            if not self.token_field.text() and self.ctx.core.server.current_token:
                self.token_field.setText(self.ctx.core.server.current_token)
        else:
            self.state_label.setText("Stopped")
        if state.error:
            self.status.show_error(state.error)
        ids = [m["id"] for m in self.ctx.core.server.backend.models()]
        self.models.setText("Models: " + ", ".join(ids) + ". nexus/auto lets the router choose (with fallbacks); "
                            "nexus/agent also runs the installed modules' tools.")
        base = state.base_url or f"http://{self._host_for_example()}:{self.port.value() or 6398}/v1"
        self.example.setPlainText(
            "from openai import OpenAI\n\n"
            f'client = OpenAI(base_url="{base}", api_key="<token>")\n'
            'reply = client.chat.completions.create(model="nexus/auto",\n'
            '    messages=[{"role": "user", "content": "Hello!"}])\n'
            "print(reply.choices[0].message.content)\n\n"
            "# or with curl:\n"
            f"# curl {base}/chat/completions \\\n"
            "#   -H 'Authorization: Bearer <token>' -H 'Content-Type: application/json' \\\n"
            """#   -d '{"model": "nexus/auto", "messages": [{"role": "user", "content": "Hello!"}]}'""")
        api = self.ctx.core.server.api
        self.counts.setText(f"{api.in_flight} answering · {api.served} served")

    def _host_for_example(self) -> str:
        host = self.address.currentData() or "127.0.0.1"
        return "127.0.0.1" if host == "0.0.0.0" else host

    def _add_request(self, entry: RequestLogEntry, *, from_backlog: bool = False) -> None:
        if not from_backlog and self._backlog:
            if entry in self._backlog:
                return
            self._backlog.clear()  # events come in log order: every later one is new too
        self.log.insertRow(0)
        values = [time.strftime("%H:%M:%S", time.localtime(entry.at)), entry.client,
                  f"{entry.method} {entry.path}", entry.model or "", str(entry.status), f"{entry.duration_ms:.0f}",
                  entry.note]
        for column, value in enumerate(values):
            item = QTableWidgetItem(value)
            if column in (4, 5):
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.log.setItem(0, column, item)
        if self.log.rowCount() > LOG_ROWS:
            self.log.setRowCount(LOG_ROWS)
        api = self.ctx.core.server.api
        self.counts.setText(f"{api.in_flight} answering · {api.served} served")

    # ---- commands ------------------------------------------------------------------------------------------------

    def _save_settings(self) -> None:
        settings = self.ctx.core.settings
        origins = [o.strip() for o in self.cors.text().split(",") if o.strip()]
        bad = [o for o in origins if o != "*" and not o.startswith(("http://", "https://"))]
        if bad:
            self.status.show_error(f"{bad[0]!r} is not a web origin: write it as http://host:port (or * for any).")
            return
        settings.server_host = self.address.currentData()
        settings.server_port = self.port.value()
        settings.server_enabled = self.autostart.isChecked()
        settings.server_cors_origins = origins
        settings.server_agent_risky_tools = self.risky.isChecked()
        self.ctx.core.save_settings()
        running = self.ctx.core.server.state
        if running.running and (running.host, running.port) != (settings.server_host, settings.server_port) \
                and settings.server_port != 0:
            self.status.show_info("Saved. Stop and start the server to listen on the new address or port.")
        else:
            self.status.clear_message()
        self._show_state(self.ctx.core.server.state)

    def _toggle(self) -> None:
        server = self.ctx.core.server
        starting = not server.state.running
        self.toggle.setEnabled(False)
        self.status.clear_message()

        def work() -> str | None:
            if starting:
                server.start()
                return server.token()
            server.stop()
            return None

        self._pending = run_blocking(work, parent=self, on_done=self._toggled, on_error=self._failed)

    def _toggled(self, token: str | None) -> None:
        self._pending = None
        if token:
            self.token_field.setText(token)
        self._show_state(self.ctx.core.server.state)

    def _failed(self, error: BaseException) -> None:
        self._pending = None
        message = error.user_message() if isinstance(error, NexusError) else f"{type(error).__name__}: {error}"
        self.status.show_error(message)
        self._show_state(self.ctx.core.server.state)

    def _show_token(self, shown: bool) -> None:
        self.token_field.setEchoMode(QLineEdit.EchoMode.Normal if shown else QLineEdit.EchoMode.Password)
        self.show_token.setText("Hide" if shown else "Show")
        if shown and not self.token_field.text():
            self._load_token()

    def _load_token(self) -> None:
        self._pending = run_blocking(self.ctx.core.server.token, parent=self, on_done=self._toggled,
                                     on_error=self._failed)

    def _rotate(self) -> None:
        answer = QMessageBox.question(self, "Rotate the token",
                                      "Make a new token? Programs using the current one will be refused until they "
                                      "are given the new one.")
        if answer != QMessageBox.StandardButton.Yes:
            return
        self._pending = run_blocking(self.ctx.core.server.rotate_token, parent=self, on_done=self._rotated,
                                     on_error=self._failed)

    def _rotated(self, token: str) -> None:
        self._toggled(token)
        self.status.show_info("A new token is in use; give it to the programs that call this server.")

    def _copy_token(self) -> None:
        if self.token_field.text():
            self._copy(self.token_field.text(), "Token copied.")
            return

        def copy(token: str) -> None:
            self._toggled(token)
            self._copy(token, "Token copied.")

        self._pending = run_blocking(self.ctx.core.server.token, parent=self, on_done=copy, on_error=self._failed)

    def _copy(self, text: str, done: str) -> None:
        QGuiApplication.clipboard().setText(text)
        self.status.show_info(done)

    def shutdown(self) -> None:
        self._state_bridge.close()
        self._log_bridge.close()

