""""Try routing": type a query and see, as you type, which task type, tier and models it would get."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QGroupBox, QLabel, QLineEdit, QVBoxLayout, QWidget

from nexus_core.providers.pool import ProviderPool
from nexus_core.routing.classify import TASK_LABELS, classify
from nexus_core.routing.table import RoutingTable


class TryRouting(QGroupBox):
    """``table()`` supplies the table to preview (the edited one when it is valid, else the saved one)."""

    def __init__(self, table: Callable[[], tuple[RoutingTable, str]], pool: ProviderPool,
                 parent: QWidget | None = None) -> None:
        super().__init__("Try routing", parent)
        self._table = table
        self._pool = pool
        self.box = QLineEdit()
        self.box.setPlaceholderText("Type a question, e.g. “write a python function that merges two lists”")
        self.box.setToolTip("Type a query to see which task type, tier and models it would get (nothing is sent)")
        self.box.textChanged.connect(lambda _text: self.update_result())
        self.result = QLabel()
        self.result.setWordWrap(True)
        self.result.setObjectName("muted")
        layout = QVBoxLayout(self)
        layout.addWidget(self.box)
        layout.addWidget(self.result)

    def update_result(self) -> None:
        text = self.box.text().strip()
        if not text:
            self.result.setText("")
            return
        table, source = self._table()
        decision = classify(text)
        candidates = table.candidates(decision.task_type, decision.tier)
        head = (f"{TASK_LABELS[decision.task_type]} ({decision.task_type.value}) · {decision.tier.value} tier — "
                f"{decision.reason}.")
        if not candidates:
            route = "No model is assigned for this task type or tier."
        else:
            route = "Model: " + " → ".join(self._describe(ref) for ref in candidates)
        notes = [source] if source else []
        if table.classifier_model:
            notes.append(f"the classifier model {table.classifier_model} may refine the task type")
        self.result.setText(f"{head}\n{route}" + (f"\n({'; '.join(notes)})" if notes else ""))

    def _describe(self, ref: str) -> str:
        left = self._pool.cooldown_left(ref)
        return f"{ref} (cooling down, {left:.0f} s left)" if left > 0 else ref
