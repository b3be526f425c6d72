"""Turn what the assignment form holds (plain text) into a ``RoutingTable``, with errors that name the row.

Validation itself is the core's (``Assignment``, ``RoutingTable``, ``Price``); this only maps form rows to them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import ValidationError

from nexus_core.routing.classify import TaskType, Tier
from nexus_core.routing.table import Assignment, Price, RoutingTable


@dataclass(frozen=True)
class RowInput:
    key: str  # the Tier or TaskType value
    label: str  # how the row reads in errors, e.g. "Tier heavy"
    model: str | None
    fallbacks: str  # comma-separated refs, in order


@dataclass
class FormInput:
    tiers: list[RowInput]
    tasks: list[RowInput]
    classifier: str | None
    max_retries: int
    cooldown_s: float
    prices: dict[str, tuple[str, str]] = field(default_factory=dict)  # ref → (input text, output text)


def split_refs(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def refs_in_use(form: FormInput) -> list[str]:
    """Every well-formed ref the form mentions, in first-seen order (the rows prices are asked for)."""
    refs: list[str] = []
    for row in (*form.tiers, *form.tasks):
        for ref in (row.model, *split_refs(row.fallbacks)):
            if ref and "/" in ref.strip("/") and ref not in refs:
                refs.append(ref)
    if form.classifier and form.classifier not in refs:
        refs.append(form.classifier)
    return refs


def _messages(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"] if not isinstance(p, int))
        message = str(error["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def _assignment(row: RowInput, errors: list[str]) -> Assignment | None:
    try:
        return Assignment(model=row.model, fallbacks=split_refs(row.fallbacks))
    except ValidationError as exc:
        errors.append(f"{row.label} — {_messages(exc)}")
        return None


def _price(ref: str, texts: tuple[str, str], errors: list[str]) -> Price | None:
    given = [t.strip() for t in texts]
    if not any(given):
        return None
    if not all(given):
        errors.append(f"Price of {ref} — enter both the input and the output price, or neither.")
        return None
    try:
        return Price(input_per_mtok=float(given[0]), output_per_mtok=float(given[1]))
    except ValueError as exc:
        detail = _messages(exc) if isinstance(exc, ValidationError) else "prices must be numbers, e.g. 0.15"
        errors.append(f"Price of {ref} — {detail}")
        return None


def build_table(form: FormInput) -> tuple[RoutingTable | None, list[str]]:
    """The table the form describes, or None with one message per bad row."""
    errors: list[str] = []
    tiers = {Tier(row.key): _assignment(row, errors) for row in form.tiers}
    tasks = {TaskType(row.key): _assignment(row, errors) for row in form.tasks}
    prices = {ref: _price(ref, texts, errors) for ref, texts in form.prices.items()}
    try:
        RoutingTable(classifier_model=form.classifier)
    except ValidationError as exc:
        errors.append(f"Classifier model — {_messages(exc).removeprefix('classifier_model: ')}")
        return None, errors
    try:
        table = RoutingTable(
            tiers={k: a for k, a in tiers.items() if a is not None and (a.model or a.fallbacks)},
            tasks={k: a for k, a in tasks.items() if a is not None and (a.model or a.fallbacks)},
            classifier_model=form.classifier, max_retries=form.max_retries, cooldown_s=form.cooldown_s,
            prices={ref: p for ref, p in prices.items() if p is not None})
    except ValidationError as exc:
        errors.append(f"Options — {_messages(exc)}")
        return None, errors
    return (None, errors) if errors else (table, [])
