"""Every LLM call, stored with OpenTelemetry GenAI attribute names (``gen_ai.*``) plus Nexus routing facts."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from nexus_core.events import Emitter
from nexus_core.store import Store

# Column names of ``llm_calls`` in the order of the CallRecord fields that fill them.
_COLUMNS: dict[str, str] = {
    "id": "id",
    "started_at": "started_at",
    "operation": "gen_ai.operation.name",
    "provider": "gen_ai.provider.name",
    "request_model": "gen_ai.request.model",
    "response_model": "gen_ai.response.model",
    "input_tokens": "gen_ai.usage.input_tokens",
    "output_tokens": "gen_ai.usage.output_tokens",
    "finish_reasons": "gen_ai.response.finish_reasons",
    "conversation_id": "gen_ai.conversation.id",
    "error_type": "error.type",
    "task_type": "nexus.task_type",
    "tier": "nexus.tier",
    "module_context": "nexus.module_context",
    "provider_kind": "nexus.provider_kind",
    "attempt": "nexus.attempt",
    "latency_ms": "nexus.latency_ms",
    "ttft_ms": "nexus.time_to_first_token_ms",
    "cost_usd": "nexus.cost_usd",
    "outcome": "nexus.outcome",
    "error_message": "nexus.error_message",
    "client": "nexus.client",
}


@dataclass
class CallRecord:
    provider: str
    request_model: str
    operation: str = "chat"
    provider_kind: str = ""
    response_model: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    finish_reasons: list[str] = field(default_factory=list)
    conversation_id: str | None = None
    error_type: str | None = None
    task_type: str | None = None
    tier: str | None = None
    module_context: str | None = None
    attempt: int = 1
    latency_ms: float | None = None
    ttft_ms: float | None = None
    cost_usd: float | None = None
    outcome: str = "ok"
    error_message: str | None = None
    client: str | None = None  # the program that asked through the local server (None: the app itself)
    started_at: float = field(default_factory=time.time)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def attributes(self) -> dict[str, Any]:
        """The record as OpenTelemetry attributes (None values left out)."""
        out: dict[str, Any] = {}
        for attr, column in _COLUMNS.items():
            if attr in ("id", "started_at"):
                continue
            value = getattr(self, attr)
            if value is None or value == []:
                continue
            out[column] = value
        return out


class CallRecorder:
    """Writes call records; reads them back for the observability views and tests. ``recorded`` fires after
    each write (exporters listen: the Prometheus metrics, the OTLP span exporter)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.recorded: Emitter[CallRecord] = Emitter("calls.recorded")

    def record(self, rec: CallRecord) -> None:
        values = []
        for attr in _COLUMNS:
            value = getattr(rec, attr)
            if attr == "finish_reasons":
                value = json.dumps(value) if value else None
            values.append(value)
        columns = ", ".join(f'"{c}"' for c in _COLUMNS.values())
        marks = ", ".join("?" for _ in _COLUMNS)
        self._store.execute(f"INSERT INTO llm_calls ({columns}) VALUES ({marks})", values)
        self.recorded.emit(rec)

    def recent(self, limit: int = 100, *, conversation_id: str | None = None) -> list[CallRecord]:
        columns = ", ".join(f'"{c}"' for c in _COLUMNS.values())
        where, params = "", [limit]
        if conversation_id is not None:
            where, params = 'WHERE "gen_ai.conversation.id" = ?', [conversation_id, limit]
        rows = self._store.query(f"SELECT {columns} FROM llm_calls {where} ORDER BY started_at DESC LIMIT ?", params)
        out = []
        for row in rows:
            kwargs = {attr: row[column] for attr, column in _COLUMNS.items()}
            kwargs["finish_reasons"] = json.loads(kwargs["finish_reasons"]) if kwargs["finish_reasons"] else []
            out.append(CallRecord(**kwargs))
        return out
