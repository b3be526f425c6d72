"""One searchable dialog over every setting the app has, built from the settings model itself (each field's
description is its one-line explanation, so a new setting appears here without more code). Saving validates the
whole model first (a bad value is named and nothing is saved), applies what can change live, and says what waits
for a restart. Providers, models and their assignment have their own editor in the Models panel."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.context import AppContext
from app.widgets.status_label import StatusLabel
from nexus_core.config import Settings
from nexus_core.errors import NexusError
from nexus_core.location import remember_data_dir, source_of
from nexus_core.paths import DataPaths, platform_data_dir

HIDDEN = {"schema_version", "first_run_done"}
RESTART_NEEDED = {"max_thread_jobs", "max_process_jobs", "monitor_window_s", "calls_retention_days"}
LABELS = {"monitor_interval_s": "Monitor interval (s)", "monitor_window_s": "Monitor history (s)",
          "evolve_interval_min": "Co-evolution interval (min)", "otlp_endpoint": "OTLP endpoint",
          "otlp_header_names": "OTLP header names", "server_cors_origins": "Server CORS origins",
          "calls_retention_days": "Call records kept (days)", "scan_hf_cache": "Scan the Hugging Face cache",
          "web_fetch_allow_private": "Web fetch may reach private addresses",
          "sandbox_code_time_s": "Code sandbox time limit (s)", "sandbox_code_memory_mb": "Code sandbox memory (MB)",
          "sandbox_require_bubblewrap": "Code sandbox requires bubblewrap"}
DATA_FOLDER_NOTE = ("Conversations, settings, logs, saved keys, trained models and media live here. Another folder "
                    "takes effect at the next start; this one is left as it is (copy its contents over to keep them).")
FIXED_FOLDER_NOTE = {"env": "Set by the NEXUS_HOME environment variable: unset it to choose the folder here.",
                     "option": "Set by --data-dir when Nexus Studio was started."}


def label_for(name: str) -> str:
    return LABELS.get(name) or name.replace("_", " ").capitalize()


class _Field:
    """One setting's editor: reads the value into its widget and back into what the model takes."""

    def __init__(self, name: str, annotation: Any, value: Any) -> None:
        self.name = name
        args = typing.get_args(annotation)
        optional = type(None) in args
        base = next((a for a in args if a is not type(None)), annotation) if optional else annotation
        origin = typing.get_origin(base)
        self.optional, self.kind = optional, "text"
        self.browse: QPushButton | None = None
        if base is bool:
            self.kind, self.widget = "bool", QCheckBox()
        elif origin is typing.Literal:
            self.kind, self.widget = "choice", QComboBox()
            for choice in typing.get_args(base):
                self.widget.addItem(str(choice), choice)
        elif base is int and not optional:
            self.kind, self.widget = "int", QSpinBox()
            self.widget.setRange(-2_000_000_000, 2_000_000_000)
        elif base is float and not optional:
            self.kind, self.widget = "float", QDoubleSpinBox()
            self.widget.setRange(-1e9, 1e9)
            self.widget.setDecimals(2)
        elif origin is list:
            self.kind, self.widget = "list", QLineEdit()
            self.widget.setPlaceholderText("comma-separated")
        elif name == "chat_system_prompt":
            self.kind, self.widget = "multiline", QPlainTextEdit()
            self.widget.setMaximumHeight(90)
        else:
            self.kind, self.widget = ("path" if base is Path else "optional" if optional else "text"), QLineEdit()
            if optional:
                self.widget.setPlaceholderText("empty: not set")
            if base is Path:
                self.browse = QPushButton("Browse…")
                self.browse.clicked.connect(self._choose)
        self.set(value)

    def row(self) -> QWidget:
        if self.browse is None:
            return self.widget
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.widget, 1)
        layout.addWidget(self.browse)
        return row

    def set(self, value: Any) -> None:
        w = self.widget
        if self.kind == "bool":
            w.setChecked(bool(value))
        elif self.kind == "choice":
            w.setCurrentIndex(max(0, w.findData(value)))
        elif self.kind in ("int", "float"):
            w.setValue(value)
        elif self.kind == "list":
            w.setText(", ".join(str(v) for v in value or []))
        elif self.kind == "multiline":
            w.setPlainText(str(value or ""))
        else:
            w.setText("" if value is None else str(value))

    def get(self) -> Any:
        w = self.widget
        if self.kind == "bool":
            return w.isChecked()
        if self.kind == "choice":
            return w.currentData()
        if self.kind in ("int", "float"):
            return w.value()
        if self.kind == "list":
            return [part.strip() for part in w.text().split(",") if part.strip()]
        if self.kind == "multiline":
            return w.toPlainText()
        text = w.text().strip()
        return None if (self.optional and not text) else text

    def _choose(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self.widget, f"Choose: {label_for(self.name)}", self.widget.text())
        if chosen:
            self.widget.setText(chosen)


def _limit(field: _Field, metadata: list[Any]) -> None:
    """Number boxes take the model's own bounds (ge/le), so most bad values cannot even be typed."""
    if field.kind not in ("int", "float"):
        return
    for item in metadata:
        low, high = getattr(item, "ge", None), getattr(item, "le", None)
        if low is not None:
            field.widget.setMinimum(low)
        if high is not None:
            field.widget.setMaximum(high)


class SettingsDialog(QDialog):
    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setWindowTitle("Settings")
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search settings…")
        self.search.setToolTip("Show only the settings whose name or explanation has all of these words")
        self.search.textChanged.connect(self._filter)
        self.fields: dict[str, _Field] = {}
        self.rows: dict[str, tuple[QLabel, QWidget, QLabel]] = {}
        self.form = QFormLayout()
        self._add_data_folder_row()
        current = ctx.core.settings
        for name, info in Settings.model_fields.items():
            if name in HIDDEN:
                continue
            field = _Field(name, info.annotation, getattr(current, name))
            _limit(field, info.metadata)
            field.widget.setToolTip(info.description or label_for(name))
            if field.browse is not None:
                field.browse.setToolTip(f"Choose the folder for “{label_for(name)}”")
            self.fields[name] = field
            self._add_row(name, label_for(name), field.row(), info.description or "")
        body = QWidget()
        body.setLayout(self.form)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(body)
        models = QPushButton("Providers, models and assignment…")
        models.setToolTip("They have their own editor in the Models panel")
        models.clicked.connect(self._open_models)
        shortcuts = QPushButton("Keyboard shortcuts…")
        shortcuts.setToolTip("List every keyboard shortcut (also Help → Keyboard shortcuts, F1)")
        shortcuts.clicked.connect(self._open_shortcuts)
        self.status = StatusLabel()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Close)
        self.save_button = buttons.button(QDialogButtonBox.StandardButton.Save)
        self.save_button.setToolTip("Check every value, then save and apply them (a bad value is named and nothing "
                                    "is saved)")
        self.save_button.clicked.connect(self.save)
        buttons.rejected.connect(self.reject)
        bottom = QHBoxLayout()
        bottom.addWidget(models)
        bottom.addWidget(shortcuts)
        bottom.addStretch(1)
        bottom.addWidget(buttons)
        layout = QVBoxLayout(self)
        layout.addWidget(self.search)
        layout.addWidget(scroll, 1)
        layout.addWidget(self.status)
        layout.addLayout(bottom)
        self.resize(760, 680)

    def _add_data_folder_row(self) -> None:
        """The data folder is not a setting inside it: a new choice is remembered outside and used from next start."""
        root = self.ctx.core.paths.root
        if self.ctx.data_dir_source is None:  # decided once per run: a folder chosen here changes the next run only
            self.ctx.data_dir_source = source_of(root)
        source = self.ctx.data_dir_source
        self.data_folder_edit = QLineEdit(str(root))
        self.data_folder_edit.setReadOnly(True)
        self.data_folder_edit.setToolTip("The folder Nexus Studio is using now")
        self.data_folder_button = QPushButton("Change…")
        self.data_folder_button.setToolTip("Use another data folder from the next start")
        self.data_folder_button.clicked.connect(self._choose_data_folder)
        self.data_folder_button.setEnabled(source not in FIXED_FOLDER_NOTE)
        row = QWidget()
        line = QHBoxLayout(row)
        line.setContentsMargins(0, 0, 0, 0)
        line.addWidget(self.data_folder_edit, 1)
        line.addWidget(self.data_folder_button)
        self._add_row("data_folder", "Data folder", row, FIXED_FOLDER_NOTE.get(source, DATA_FOLDER_NOTE))

    def _add_row(self, name: str, title: str, editor: QWidget, explanation: str) -> None:
        """One row: the label, the editor and its one-line explanation under it (searched by the filter)."""
        note = QLabel(explanation)
        note.setObjectName("muted")
        note.setWordWrap(True)
        holder = QWidget()
        holder_layout = QVBoxLayout(holder)
        holder_layout.setContentsMargins(0, 0, 0, 6)
        holder_layout.addWidget(editor)
        holder_layout.addWidget(note)
        label = QLabel(title)
        self.form.addRow(label, holder)
        self.rows[name] = (label, holder, note)

    def _choose_data_folder(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "Choose the data folder", str(self.ctx.core.paths.root))
        if chosen:
            self.change_data_folder(Path(chosen))

    def change_data_folder(self, folder: Path) -> bool:
        """Check the folder can be used, then remember it for the next start; the folder in use stays as it is."""
        current = self.ctx.core.paths.root
        try:
            if folder.expanduser().resolve() == current.resolve():
                remember_data_dir(None if current.resolve() == platform_data_dir().resolve() else current)
                self.status.show_info(f"{current} is the folder in use now; it stays the data folder.")
                return True
            DataPaths.prepare(folder)
            if folder.expanduser().resolve() == platform_data_dir().resolve():
                remember_data_dir(None)
            else:
                remember_data_dir(folder)
        except (NexusError, OSError) as exc:
            self.status.show_error(exc.user_message() if isinstance(exc, NexusError) else str(exc))
            return False
        self.status.show_info(f"From the next start Nexus Studio uses {folder}. Restart to switch; to keep your "
                              f"conversations and settings, copy the contents of {current} there first.")
        return True

    def _open_shortcuts(self) -> None:
        window = self.parent()
        if window is not None and hasattr(window, "show_shortcuts"):
            window.show_shortcuts()

    def _filter(self, text: str) -> None:
        words = text.lower().split()
        for name, (label, holder, note) in self.rows.items():
            haystack = f"{name} {label.text()} {note.text()}".lower()
            self.form.setRowVisible(holder, all(w in haystack for w in words))

    def visible_settings(self) -> list[str]:
        return [name for name, (_l, holder, _n) in self.rows.items() if self.form.isRowVisible(holder)]

    def save(self) -> bool:
        """Validate everything, then save and apply; a bad value is named and nothing changes."""
        settings = self.ctx.core.settings
        values = {name: field.get() for name, field in self.fields.items()}
        try:
            checked = Settings.model_validate({**settings.model_dump(), **values})
        except ValidationError as exc:
            error = exc.errors()[0]
            name = str(error["loc"][0]) if error["loc"] else ""
            self.status.show_error(f"{label_for(name)}: {error['msg']}. Nothing was saved.")
            return False
        changed = [n for n in self.fields if getattr(checked, n) != getattr(settings, n)]
        for name in changed:
            setattr(settings, name, getattr(checked, name))
        self.ctx.core.save_settings()
        problems = self._apply(changed)
        later = sorted(label_for(n) for n in changed if n in RESTART_NEEDED)
        message = f"Saved {len(changed)} change(s)." if changed else "Nothing changed."
        if later:
            message += " Restart Nexus Studio for: " + ", ".join(later) + "."
        if problems:
            self.status.show_error(message + " " + " ".join(problems))
        else:
            self.status.show_info(message)
        return True

    def _apply(self, changed: list[str]) -> list[str]:
        """What can change while the app runs, now; the problems."""
        core, problems = self.ctx.core, []
        if "theme" in changed:
            self.ctx.set_theme(core.settings.theme, save=False)
        if "monitor_interval_s" in changed:
            core.telemetry.interval_s = core.settings.monitor_interval_s
        if "log_level" in changed:
            import logging

            logging.getLogger().setLevel(core.settings.log_level)
            for handler in logging.getLogger().handlers:
                handler.setLevel(core.settings.log_level)
        if "chat_system_prompt" in changed:
            core.chat.system_prompt = core.settings.chat_system_prompt
        if {"metrics_port", "metrics_address", "otlp_endpoint", "otlp_header_names"} & set(changed):
            problems += core.observability.apply_settings()
        return problems

    def _open_models(self) -> None:
        window = self.parent()
        if window is not None and hasattr(window, "show_panel"):
            window.show_panel("models")
        self.accept()
