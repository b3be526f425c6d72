"""Agent runs in the app's store: the run, each step's checkpoint, the shared context, step records and the files
each step iteration wrote. Everything a stopped or crashed run needs to resume is here."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from nexus_core.errors import NexusError
from nexus_core.store import Store


@dataclass(frozen=True)
class RunRecord:
    id: str
    workflow: str
    graph: dict[str, Any]
    requirement: str
    out_dir: str
    state: str
    loops: dict[str, Any]
    error: str | None
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class ContextEntry:
    seq: int
    node_id: str
    iteration: int
    kind: str
    content: str
    at: float


@dataclass(frozen=True)
class StepRecord:
    node_id: str
    iteration: int
    persona: str
    status: str
    attempts: int
    models: list[str] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0
    model_ms: float = 0.0
    started_at: float = 0.0
    finished_at: float | None = None
    error: str | None = None

    @property
    def duration_s(self) -> float:
        return (self.finished_at or time.time()) - self.started_at


class AgentRunStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    # ---- runs --------------------------------------------------------------------------------------------------

    def create(self, workflow: str, graph: dict[str, Any], requirement: str, out_dir: str) -> str:
        run_id = uuid.uuid4().hex
        now = time.time()
        self.store.execute("INSERT INTO agent_runs (id, workflow, graph, requirement, out_dir, state, created_at, "
                           "updated_at) VALUES (?, ?, ?, ?, ?, 'running', ?, ?)",
                           (run_id, workflow, json.dumps(graph), requirement, out_dir, now, now))
        return run_id

    def get(self, run_id: str) -> RunRecord:
        rows = self.store.query("SELECT * FROM agent_runs WHERE id LIKE ? ORDER BY created_at DESC", (f"{run_id}%",))
        if not rows:
            raise NexusError(f"There is no agent run {run_id!r}.", hint="`nexus agents list` shows the runs.")
        if len(rows) > 1 and rows[0]["id"] != run_id:
            raise NexusError(f"{run_id!r} matches {len(rows)} runs.", hint="Give more of the run's id.")
        return _run(rows[0])

    def for_folder(self, out_dir: str) -> RunRecord | None:
        row = self.store.query_one("SELECT * FROM agent_runs WHERE out_dir = ? ORDER BY created_at DESC LIMIT 1",
                                   (out_dir,))
        return _run(row) if row else None

    def runs(self, limit: int = 50) -> list[RunRecord]:
        return [_run(r) for r in self.store.query("SELECT * FROM agent_runs ORDER BY created_at DESC LIMIT ?",
                                                  (limit,))]

    def set_state(self, run_id: str, state: str, error: str | None = None) -> None:
        self.store.execute("UPDATE agent_runs SET state = ?, error = ?, updated_at = ? WHERE id = ?",
                           (state, error, time.time(), run_id))

    def save_loops(self, run_id: str, loops: dict[str, Any]) -> None:
        self.store.execute("UPDATE agent_runs SET loops = ?, updated_at = ? WHERE id = ?",
                           (json.dumps(loops), time.time(), run_id))

    # ---- context -----------------------------------------------------------------------------------------------

    def append(self, run_id: str, node_id: str, iteration: int, kind: str, content: str) -> ContextEntry:
        now = time.time()
        with self.store.transaction() as conn:
            seq = conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM agent_context WHERE run_id = ?",
                               (run_id,)).fetchone()[0]
            conn.execute("INSERT INTO agent_context (run_id, seq, node_id, iteration, kind, content, at) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?)", (run_id, seq, node_id, iteration, kind, content, now))
        return ContextEntry(seq, node_id, iteration, kind, content, now)

    def context(self, run_id: str, node_ids: set[str] | None = None) -> list[ContextEntry]:
        rows = self.store.query("SELECT seq, node_id, iteration, kind, content, at FROM agent_context "
                                "WHERE run_id = ? ORDER BY seq", (run_id,))
        return [ContextEntry(*tuple(r)) for r in rows if node_ids is None or r["node_id"] in node_ids]

    # ---- steps -------------------------------------------------------------------------------------------------

    def finished_iterations(self, run_id: str, node_id: str) -> int:
        row = self.store.query_one("SELECT COUNT(*) FROM agent_steps WHERE run_id = ? AND node_id = ? AND "
                                   "status = 'succeeded'", (run_id, node_id))
        return int(row[0]) if row else 0

    def step_started(self, run_id: str, node_id: str, iteration: int, persona: str) -> None:
        self.store.execute("INSERT OR REPLACE INTO agent_steps (run_id, node_id, iteration, persona, status, attempts, "
                           "started_at) VALUES (?, ?, ?, ?, 'running', 0, ?)",
                           (run_id, node_id, iteration, persona, time.time()))

    def step_finished(self, run_id: str, node_id: str, iteration: int, *, status: str, attempts: int,
                      models: list[str], input_tokens: int, output_tokens: int, model_ms: float,
                      error: str | None = None) -> None:
        self.store.execute("UPDATE agent_steps SET status = ?, attempts = ?, models = ?, input_tokens = ?, "
                           "output_tokens = ?, model_ms = ?, finished_at = ?, error = ? WHERE run_id = ? AND "
                           "node_id = ? AND iteration = ?",
                           (status, attempts, json.dumps(models), input_tokens, output_tokens, model_ms, time.time(),
                            error, run_id, node_id, iteration))

    def mark_unfinished(self, run_id: str, status: str = "stopped") -> None:
        """Steps left 'running' by a stop or a crash."""
        self.store.execute("UPDATE agent_steps SET status = ?, finished_at = ? WHERE run_id = ? AND status = "
                           "'running'", (status, time.time(), run_id))

    def steps(self, run_id: str) -> list[StepRecord]:
        rows = self.store.query("SELECT node_id, iteration, persona, status, attempts, models, input_tokens, "
                                "output_tokens, model_ms, started_at, finished_at, error FROM agent_steps "
                                "WHERE run_id = ? ORDER BY started_at", (run_id,))
        return [StepRecord(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), r[6], r[7], r[8], r[9], r[10], r[11])
                for r in rows]

    # ---- files -------------------------------------------------------------------------------------------------

    def save_files(self, run_id: str, node_id: str, iteration: int,
                   changes: dict[str, tuple[str | None, str | None]]) -> None:
        """``changes``: path → (sha256 or None when deleted, text or None when deleted or binary)."""
        with self.store.transaction() as conn:
            conn.execute("DELETE FROM agent_files WHERE run_id = ? AND node_id = ? AND iteration = ?",
                         (run_id, node_id, iteration))
            conn.executemany("INSERT INTO agent_files (run_id, node_id, iteration, path, sha256, content) "
                             "VALUES (?, ?, ?, ?, ?, ?)",
                             [(run_id, node_id, iteration, path, sha, text) for path, (sha, text) in
                              sorted(changes.items())])

    def file_versions(self, run_id: str, path: str) -> list[tuple[str, int, str | None]]:
        """Every version of one file, oldest first: (step, iteration, text or None when deleted)."""
        rows = self.store.query("SELECT f.node_id, f.iteration, f.content FROM agent_files AS f JOIN agent_steps AS s "
                                "ON s.run_id = f.run_id AND s.node_id = f.node_id AND s.iteration = f.iteration "
                                "WHERE f.run_id = ? AND f.path = ? ORDER BY s.started_at", (run_id, path))
        return [(r[0], r[1], r[2]) for r in rows]

    def step_files(self, run_id: str, node_id: str, iteration: int) -> list[tuple[str, bool]]:
        """The files one step iteration wrote: (path, deleted)."""
        rows = self.store.query("SELECT path, sha256 IS NULL FROM agent_files WHERE run_id = ? AND node_id = ? AND "
                                "iteration = ? ORDER BY path", (run_id, node_id, iteration))
        return [(r[0], bool(r[1])) for r in rows]

    def latest_files(self, run_id: str) -> dict[str, tuple[str | None, str | None]]:
        """Each file as the last step that touched it left it: path → (sha256, text)."""
        rows = self.store.query("SELECT f.path, f.sha256, f.content FROM agent_files AS f JOIN agent_steps AS s ON "
                                "s.run_id = f.run_id AND s.node_id = f.node_id AND s.iteration = f.iteration WHERE "
                                "f.run_id = ? AND s.status = 'succeeded' ORDER BY s.finished_at", (run_id,))
        latest: dict[str, tuple[str | None, str | None]] = {}
        for path, sha, text in rows:
            latest[path] = (sha, text)
        return latest


class CheckpointCache(MutableMapping[str, tuple[str, dict[str, Any]]]):
    """The pipeline executor's cache kept in the store: a finished step is served from here when the run resumes
    with the same inputs (its signature)."""

    def __init__(self, runs: AgentRunStore, run_id: str) -> None:
        self.runs, self.run_id = runs, run_id

    def __getitem__(self, node_id: str) -> tuple[str, dict[str, Any]]:
        row = self.runs.store.query_one("SELECT signature, outputs FROM agent_checkpoints WHERE run_id = ? AND "
                                        "node_id = ?", (self.run_id, node_id))
        if row is None:
            raise KeyError(node_id)
        return row[0], json.loads(row[1])

    def __setitem__(self, node_id: str, value: tuple[str, dict[str, Any]]) -> None:
        self.runs.store.execute("INSERT OR REPLACE INTO agent_checkpoints (run_id, node_id, signature, outputs) "
                                "VALUES (?, ?, ?, ?)", (self.run_id, node_id, value[0], json.dumps(value[1])))

    def __delitem__(self, node_id: str) -> None:
        self.runs.store.execute("DELETE FROM agent_checkpoints WHERE run_id = ? AND node_id = ?",
                                (self.run_id, node_id))

    def __iter__(self) -> Iterator[str]:
        rows = self.runs.store.query("SELECT node_id FROM agent_checkpoints WHERE run_id = ?", (self.run_id,))
        return iter([r[0] for r in rows])

    def __len__(self) -> int:
        row = self.runs.store.query_one("SELECT COUNT(*) FROM agent_checkpoints WHERE run_id = ?", (self.run_id,))
        return int(row[0]) if row else 0


def _run(row: Any) -> RunRecord:
    return RunRecord(row["id"], row["workflow"], json.loads(row["graph"]), row["requirement"], row["out_dir"],
                     row["state"], json.loads(row["loops"] or "{}"), row["error"], row["created_at"], row["updated_at"])
