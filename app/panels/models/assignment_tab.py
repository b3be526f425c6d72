"""The Assignment tab: which model serves each tier and task type, with fallbacks, options and prices.

Edits stay in the form until Apply saves them through ``RoutingTableStore.save`` (the next chat turn uses them;
no restart). A change saved elsewhere reloads the form unless it holds unsaved edits.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.context import AppContext
from app.panels.models.assignment_rows import AssignmentRows
from app.panels.models.model_combo import ModelCombo
from app.panels.models.prices_table import PricesTable
from app.panels.models.table_form import FormInput, build_table, refs_in_use
from app.panels.models.try_routing import TryRouting
from app.widgets.status_label import StatusLabel
from nexus_core.errors import NexusError
from nexus_core.routing.classify import TASK_LABELS, TaskType, Tier
from nexus_core.routing.table import RoutingTable


def _group(title: str, widget: QWidget, note: str = "") -> QGroupBox:
    box = QGroupBox(title)
    layout = QVBoxLayout(box)
    if note:
        label = QLabel(note)
        label.setObjectName("muted")
        label.setWordWrap(True)
        layout.addWidget(label)
    layout.addWidget(widget)
    return box


class AssignmentTab(QWidget):
    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.store = ctx.core.routing
        self.pool = ctx.core.providers
        self._loading = False
        self._saving = False
        self._loaded_state: object = None

        self.tiers = AssignmentRows([(t.value, t.value.capitalize(), f"Tier {t.value}") for t in Tier], "Tier",
                                    "— not set —")
        self.tasks = AssignmentRows([(t.value, TASK_LABELS[t], f"Task type {TASK_LABELS[t]!r}") for t in TaskType],
                                    "Task type", "— tier default —")
        self.classifier_combo = ModelCombo("— none (rules only) —")
        self.classifier_combo.setToolTip("An optional small local model that refines the task type of each query")
        self.retries_spin = QSpinBox()
        self.retries_spin.setRange(0, 10)
        self.retries_spin.setToolTip("How many times a failed model call is retried before the next fallback")
        self.cooldown_spin = QDoubleSpinBox()
        self.cooldown_spin.setRange(0, 3600)
        self.cooldown_spin.setDecimals(0)
        self.cooldown_spin.setSuffix(" s")
        self.cooldown_spin.setToolTip("How long a model that failed (auth, rate limit, server error) is skipped")
        options = QWidget()
        options_form = QFormLayout(options)
        options_form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
        options_form.addRow("Classifier model", self.classifier_combo)
        options_form.addRow("Max retries", self.retries_spin)
        options_form.addRow("Cooldown", self.cooldown_spin)
        self.prices = PricesTable()
        self.try_routing = TryRouting(self._preview_table, self.pool)
        self.try_box: QLineEdit = self.try_routing.box
        self.try_result: QLabel = self.try_routing.result

        content = QWidget()
        body = QVBoxLayout(content)
        body.addWidget(_group("Tiers", self.tiers, "The model for each tier; a task type without its own model "
                                                   "uses the tier the query is classified into."))
        body.addWidget(_group("Task types", self.tasks, "Optional: a model (and fallbacks) for one kind of task, "
                                                        "ahead of the tier's."))
        body.addWidget(_group("Options", options))
        body.addWidget(_group("Prices", self.prices, "US dollars per million tokens, for cost estimates; leave "
                                                     "both empty for models you do not pay for."))
        body.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(content)

        self.dirty_label = QLabel("Unsaved changes")
        self.dirty_label.setObjectName("muted")
        self.external_label = QLabel("The assignment was changed elsewhere. Revert to load it, or Apply to "
                                     "replace it with yours.")
        self.external_label.setObjectName("muted")
        self.external_label.setWordWrap(True)
        self.error_label = StatusLabel()
        self.revert_button = QPushButton("Revert")
        self.revert_button.setToolTip("Discard unsaved edits and show the saved assignment")
        self.revert_button.clicked.connect(self.revert)
        self.apply_button = QPushButton("Apply")
        self.apply_button.setToolTip("Save; the next chat turn uses it")
        self.apply_button.clicked.connect(lambda: self.apply())
        bar = QHBoxLayout()
        bar.addWidget(self.dirty_label)
        bar.addWidget(self.external_label, 1)
        bar.addStretch(0)
        bar.addWidget(self.revert_button)
        bar.addWidget(self.apply_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(scroll, 1)
        layout.addWidget(self.try_routing)
        layout.addWidget(self.error_label)
        layout.addLayout(bar)

        for signal in (self.tiers.edited, self.tasks.edited, self.classifier_combo.value_changed,
                       self.retries_spin.valueChanged, self.cooldown_spin.valueChanged, self.prices.edited):
            signal.connect(self._edited)
        ctx.routing_changed.fired.connect(self._external_change)
        ctx.providers_changed.fired.connect(self._providers_changed)
        self._providers_changed(None)
        self.load(self.store.table)

    # -- test and caller handles -----------------------------------------------------------------------------

    def tier_model_combo(self, tier: Tier) -> ModelCombo:
        return self.tiers.combos[tier.value]

    def tier_fallbacks_edit(self, tier: Tier) -> QLineEdit:
        return self.tiers.fallback_edits[tier.value]

    def task_model_combo(self, task: TaskType) -> ModelCombo:
        return self.tasks.combos[task.value]

    def task_fallbacks_edit(self, task: TaskType) -> QLineEdit:
        return self.tasks.fallback_edits[task.value]

    def price_edits(self, ref: str) -> tuple[QLineEdit, QLineEdit]:
        return self.prices.edits(ref)

    @property
    def dirty(self) -> bool:
        return self._state() != self._loaded_state

    # -- form <-> table --------------------------------------------------------------------------------------

    def form(self) -> FormInput:
        return FormInput(self.tiers.inputs(), self.tasks.inputs(), self.classifier_combo.value(),
                         self.retries_spin.value(), self.cooldown_spin.value(), self.prices.texts())

    def _state(self) -> object:
        """What the person can change, as plain values: differs from the loaded state exactly when edited."""
        form = self.form()
        prices = {ref: texts for ref, texts in form.prices.items() if any(t.strip() for t in texts)}
        return (form.tiers, form.tasks, form.classifier, form.max_retries, form.cooldown_s, prices)

    def load(self, table: RoutingTable) -> None:
        self._loading = True
        try:
            self.tiers.set_assignments({k.value: a for k, a in table.tiers.items()})
            self.tasks.set_assignments({k.value: a for k, a in table.tasks.items()})
            self.classifier_combo.set_value(table.classifier_model)
            self.retries_spin.setValue(table.max_retries)
            self.cooldown_spin.setValue(table.cooldown_s)
            self.prices.set_prices(table.prices, refs_in_use(self.form()))
        finally:
            self._loading = False
        self._loaded_state = self._state()
        self.external_label.setVisible(False)
        self.error_label.clear_message()
        self._edited()

    def _edited(self, *_args: object) -> None:
        if self._loading:
            return
        self.prices.follow_refs(refs_in_use(self.form()))
        dirty = self.dirty
        self.dirty_label.setVisible(dirty)
        self.apply_button.setEnabled(dirty)
        self.revert_button.setEnabled(dirty or self.external_label.isVisible())
        self.try_routing.update_result()

    def _preview_table(self) -> tuple[RoutingTable, str]:
        if not self.dirty:
            return self.store.table, ""
        table, errors = build_table(self.form())
        if table is None:
            return self.store.table, f"the saved assignment: the edits have {len(errors)} error(s)"
        return table, "with your unsaved edits"

    # -- actions ---------------------------------------------------------------------------------------------

    def apply(self) -> bool:
        """Save the form; on errors show one line per bad row and save nothing."""
        table, errors = build_table(self.form())
        if table is None:
            self.error_label.show_error("Not saved:\n" + "\n".join(errors))
            return False
        self._saving = True
        try:
            self.store.save(table)
        except (ValueError, NexusError) as exc:  # pydantic's ValidationError is a ValueError; the store, NexusError
            self.error_label.show_error(f"Not saved: {exc}")
            return False
        finally:
            self._saving = False
        self.load(self.store.table)
        self.error_label.show_info("Saved. The next chat turn uses this assignment.")
        return True

    def revert(self) -> None:
        self.load(self.store.table)

    def _external_change(self, table: object) -> None:
        if self._saving or not isinstance(table, RoutingTable):
            return
        if self.dirty:
            self.external_label.setVisible(True)
            self.revert_button.setEnabled(True)
            return
        self.load(table)

    def _providers_changed(self, _payload: object) -> None:
        refs = [f"{c.name}/{m}" for c in self.pool.configs() for m in c.models]
        self._loading = True  # new choices change no value, so the form stays as clean (or dirty) as it was
        try:
            self.tiers.set_choices(refs)
            self.tasks.set_choices(refs)
            self.classifier_combo.set_choices(refs)
        finally:
            self._loading = False
