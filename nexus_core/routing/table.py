"""The model assignment table: which model serves each task type and tier, with ordered fallbacks."""

from __future__ import annotations

import json
import logging
import threading

from pydantic import BaseModel, Field, ValidationError, field_validator

from nexus_core.events import Emitter
from nexus_core.routing.classify import TaskType, Tier
from nexus_core.store import Store

log = logging.getLogger(__name__)
STORE_KEY = "routing.table"


def _check_ref(value: str) -> str:
    value = value.strip()
    provider, sep, model = value.partition("/")
    if not sep or not provider or not model:
        raise ValueError(f"{value!r} is not provider/model (e.g. ollama/llama3.2:3b)")
    return value


class Assignment(BaseModel):
    model: str | None = None  # "provider/model"; None = use the tier's model
    fallbacks: list[str] = Field(default_factory=list)

    @field_validator("model")
    @classmethod
    def _model(cls, value: str | None) -> str | None:
        return _check_ref(value) if value else None

    @field_validator("fallbacks")
    @classmethod
    def _fallbacks(cls, value: list[str]) -> list[str]:
        return [_check_ref(v) for v in value if v.strip()]


class Price(BaseModel):
    input_per_mtok: float = Field(ge=0)  # US dollars per million input tokens
    output_per_mtok: float = Field(ge=0)


class RoutingTable(BaseModel):
    tiers: dict[Tier, Assignment] = Field(default_factory=dict)
    tasks: dict[TaskType, Assignment] = Field(default_factory=dict)
    classifier_model: str | None = None  # optional local model that refines the task type
    prices: dict[str, Price] = Field(default_factory=dict)  # "provider/model" → price
    max_retries: int = Field(default=2, ge=0, le=10)
    cooldown_s: float = Field(default=60.0, ge=0, le=3600)

    @field_validator("classifier_model")
    @classmethod
    def _classifier(cls, value: str | None) -> str | None:
        return _check_ref(value) if value else None

    def candidates(self, task: TaskType, tier: Tier) -> list[str]:
        """Models to try, in order: the task's model (or the tier's), its fallbacks, then the tier's fallbacks."""
        task_a = self.tasks.get(task, Assignment())
        tier_a = self.tiers.get(tier, Assignment())
        ordered = [task_a.model or tier_a.model, *task_a.fallbacks, tier_a.model, *tier_a.fallbacks]
        seen: list[str] = []
        for ref in ordered:
            if ref and ref not in seen:
                seen.append(ref)
        return seen

    def cost(self, model_ref: str, input_tokens: int | None, output_tokens: int | None) -> float | None:
        price = self.prices.get(model_ref)
        if price is None or input_tokens is None or output_tokens is None:
            return None
        return (input_tokens * price.input_per_mtok + output_tokens * price.output_per_mtok) / 1_000_000


class RoutingTableStore:
    """Loads and saves the table; subscribers hear every change, so edits apply without a restart."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        self.problems: list[str] = []
        self._table = self._load()
        self.changed: Emitter[RoutingTable] = Emitter("routing.changed")

    def _load(self) -> RoutingTable:
        raw = self._store.get_value(STORE_KEY)
        if not raw:
            return RoutingTable()
        try:
            return RoutingTable.model_validate(json.loads(raw))
        except (json.JSONDecodeError, ValidationError) as exc:
            backup_key = f"{STORE_KEY}.unreadable"
            self._store.set_value(backup_key, raw)
            problem = (f"The saved model assignment table could not be read ({_first_error(exc)}); it was reset. "
                       f"The old value is kept in the store under {backup_key!r}.")
            log.warning("%s", problem)
            self.problems.append(problem)
            return RoutingTable()

    @property
    def table(self) -> RoutingTable:
        with self._lock:
            return self._table.model_copy(deep=True)

    def save(self, table: RoutingTable) -> None:
        table = RoutingTable.model_validate(table.model_dump())  # re-validate edits made in place
        with self._lock:
            self._store.set_value(STORE_KEY, table.model_dump_json())
            self._table = table
        self.changed.emit(table.model_copy(deep=True))


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        return f"field {'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
    return str(exc)
