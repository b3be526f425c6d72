"""One workflow run: the pipeline executor runs the graph (independent steps at once) with its cache kept in the
store as checkpoints; each agent step runs the tool loop in the run's workspace, with retries and exponential
backoff; a review that asks for changes sends its feedback back to the step it names, a bounded number of rounds;
the report is written at the end. A stopped or crashed run resumes from its checkpoints."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import threading
import time
from contextlib import aclosing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nexus_core.agent.loop import AgentLoop, Approval, ApprovalRequest, RoundDone, ToolFinished
from nexus_core.agents.personas import Persona
from nexus_core.agents.store import AgentRunStore, CheckpointCache, ContextEntry
from nexus_core.agents.testing import run_workspace_tests
from nexus_core.atomic import atomic_write_text
from nexus_core.errors import NexusError
from nexus_core.events import Emitter
from nexus_core.pipeline.executor import Executor, NodeEvent, RunResult
from nexus_core.pipeline.graph import Graph
from nexus_core.pipeline.nodes import NodeRegistry
from nexus_core.providers.errors import ProviderError
from nexus_core.providers.types import ChatMessage, TextDelta
from nexus_core.routing.classify import Tier
from nexus_core.routing.router import CallDone, RouteDecision, Router
from nexus_core.tools.base import ToolContext
from nexus_core.tools.registry import ToolRegistry
from nexus_core.units import one_line

log = logging.getLogger(__name__)
VERDICT = re.compile(r"^\s*\**\s*VERDICT\s*:\s*\**\s*(APPROVED|CHANGES)\b", re.IGNORECASE | re.MULTILINE)
MAX_FILE_CHARS = 200_000  # files larger than this are recorded by hash only
CONTEXT_CHARS = 12_000  # of earlier steps' context given to a step


class UnusableOutputError(NexusError):
    """A model's answer a step cannot use (empty, or a review without a verdict); retried like a failed call."""


class StepFailedError(NexusError):
    """A step failed after its retries; the run stops there and can be resumed after a fix."""


@dataclass(frozen=True)
class RunEvent:
    """What the run view shows: a step's state (started, finished, cached, failed, skipped), a context entry
    (message), a review loop (loop), the run's end (ended)."""

    run_id: str
    kind: str
    node_id: str | None = None
    text: str = ""
    iteration: int = 0


@dataclass
class _Outcome:
    text: str = ""
    written: set[str] = field(default_factory=set)  # workspace files this step's tool calls wrote
    models: list[str] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0
    model_ms: float = 0.0


class WorkflowRun:
    def __init__(self, runs: AgentRunStore, run_id: str, graph: Graph, registry: NodeRegistry, router: Router,
                 tools: ToolRegistry, out_dir: Path, *, backoff_s: float = 1.0, max_rounds: int = 12,
                 max_parallel: int = 8, events: Emitter[RunEvent] | None = None) -> None:
        self.runs, self.run_id, self.graph, self.router, self.tools = runs, run_id, graph, router, tools
        self.out_dir = out_dir
        self.workspace = out_dir / "workspace"
        self.backoff_s = backoff_s
        self.max_rounds = max_rounds  # tool-call rounds per step
        self.events = events or Emitter("agents.events")
        self.record = runs.get(run_id)
        self.executor = Executor(registry, services={"agent_run": self}, max_parallel=max_parallel,
                                 cache=CheckpointCache(runs, run_id))
        self._disconnect = self.executor.events.connect(self._node_event)
        self.ended = threading.Event()  # set once execute() is over, however it ended (stopping waits for it)

    # ---- the run -----------------------------------------------------------------------------------------------

    async def execute(self) -> dict[str, Any]:
        """Run (or resume) to the end; returns the report. Raises CancelledError when stopped."""
        self.runs.mark_unfinished(self.run_id, "stopped")
        self.runs.set_state(self.run_id, "running")
        self._restore_workspace()
        loops = dict(self.record.loops) or {"feedback": {}, "rounds": {}}
        started = time.perf_counter()
        try:
            while True:
                salt = {node: hashlib.sha256(json.dumps(items).encode()).hexdigest()[:16]
                        for node, items in loops["feedback"].items()}
                result = await self.executor.run(self.graph, {"requirement": self.record.requirement}, salt=salt)
                if not result.ok:
                    failed = next(n for n, r in result.nodes.items() if r.status == "failed")
                    error = f"step {failed} failed: {result.nodes[failed].error}"
                    return self._finish(result, loops, started, "failed", error)
                if not self._send_back(result, loops):
                    return self._finish(result, loops, started, "succeeded", None)
        except asyncio.CancelledError:
            self.runs.mark_unfinished(self.run_id, "stopped")
            self.runs.set_state(self.run_id, "stopped", "stopped before the end; resume to go on")
            self.events.emit(RunEvent(self.run_id, "ended", text="stopped"))
            raise
        finally:
            self._disconnect()
            self.ended.set()

    def _send_back(self, result: RunResult, loops: dict[str, Any]) -> bool:
        """Reviews that asked for changes, with rounds left, send their feedback back; True when any did."""
        sent = False
        for node_id, node in self.graph.nodes.items():
            if node.type != "agent.review" or node_id not in result.nodes:
                continue
            work = result.nodes[node_id].outputs.get("work") or {}
            if work.get("verdict") != "changes":
                continue
            targets = [t.strip() for t in str(node.params.get("send_back_to", "")).split(",") if t.strip()]
            limit = int(node.params.get("max_rounds", 2))
            used = loops["rounds"].get(node_id, 0)
            if not targets or used >= limit:
                if targets:
                    self._say(node_id, work.get("iteration", 1), "loop",
                              f"the review still asks for changes after {used} round(s), the limit; going on")
                continue
            loops["rounds"][node_id] = used + 1
            for target in targets:
                loops["feedback"].setdefault(target, []).append(work.get("feedback") or work.get("summary", ""))
                self._say(target, self._iteration(target) + 1, "feedback",
                          f"review {node_id} (round {used + 1} of {limit}) sent this back:\n"
                          f"{work.get('feedback', '')}")
            self.events.emit(RunEvent(self.run_id, "loop", node_id, f"sent back to {', '.join(targets)}",
                                      used + 1))
            sent = True
        self.runs.save_loops(self.run_id, loops)
        return sent

    # ---- one step ----------------------------------------------------------------------------------------------

    async def step(self, node_id: str, persona: Persona, inputs: dict[str, Any], params: dict[str, Any]
                   ) -> dict[str, Any]:
        iteration = self._iteration(node_id) + 1
        self.runs.step_started(self.run_id, node_id, iteration, persona.kind)
        retries = int(params.get("retries", 2))
        attempts, total = 0, _Outcome()
        while True:
            attempts += 1
            try:
                self._check_workspace()
                outcome = await self._attempt(node_id, iteration, persona, inputs, params)
                _add(total, outcome)
                work = await self._work(node_id, iteration, persona, outcome)
                break
            except (ProviderError, UnusableOutputError) as exc:
                message = exc.user_message()
                if attempts > retries:
                    self._say(node_id, iteration, "error", f"gave up after {attempts} attempt(s): {message}")
                    self.runs.step_finished(self.run_id, node_id, iteration, status="failed", attempts=attempts,
                                            models=total.models, input_tokens=total.input_tokens,
                                            output_tokens=total.output_tokens, model_ms=total.model_ms,
                                            error=message)
                    raise StepFailedError(f"{persona.title} ({node_id}) failed after {attempts} attempt(s): {exc.what}",
                                     hint=exc.hint or "Fix the cause, then resume the run.") from None
                wait = self.backoff_s * 2 ** (attempts - 1)
                self._say(node_id, iteration, "error", f"attempt {attempts} failed ({message}); retrying in "
                                                       f"{wait:.1f} s")
                await asyncio.sleep(wait)
            except NexusError as exc:
                self.runs.step_finished(self.run_id, node_id, iteration, status="failed", attempts=attempts,
                                        models=total.models, input_tokens=total.input_tokens,
                                        output_tokens=total.output_tokens, model_ms=total.model_ms,
                                        error=exc.user_message())
                raise
        self.runs.step_finished(self.run_id, node_id, iteration, status="succeeded", attempts=attempts,
                                models=sorted(set(total.models)), input_tokens=total.input_tokens,
                                output_tokens=total.output_tokens, model_ms=total.model_ms)
        return {"work": work}

    async def _attempt(self, node_id: str, iteration: int, persona: Persona, inputs: dict[str, Any],
                       params: dict[str, Any]) -> _Outcome:
        messages = [ChatMessage("system", "\n\n".join(p for p in (persona.system, params.get("instructions"))
                                                      if p)),
                    ChatMessage("user", self._brief(node_id, iteration, inputs))]
        tier = str(params.get("tier") or persona.tier)
        model = str(params.get("model") or "").strip()
        target: Any = model or RouteDecision(persona.task_type, tier, self.router.candidates(persona.task_type,
                                                                                              Tier(tier)),
                                             f"{persona.title}", "agent")
        registry = ToolRegistry()
        for name in persona.tools:
            tool = _agent_tools().get(name) or self.tools.get(name)
            if tool is not None:
                registry.register(tool)
        loop = AgentLoop(self.router, registry, max_rounds=self.max_rounds)
        ctx = ToolContext(self.workspace, f"agents:{self.run_id}")
        outcome, text = _Outcome(), ""
        stream = loop.run(target, messages, ctx=ctx, approver=_allow_in_workspace, task_type=persona.task_type.value,
                          tier=tier, module_context=f"agents.{persona.kind}", conversation_id=None)
        async with aclosing(stream) as events:
            async for event in events:
                if isinstance(event, TextDelta):
                    text += event.text
                elif isinstance(event, CallDone):
                    record = event.record
                    outcome.models.append(f"{record.provider}/{record.request_model}")
                    outcome.input_tokens += record.input_tokens or 0
                    outcome.output_tokens += record.output_tokens or 0
                    outcome.model_ms += record.latency_ms or 0.0
                elif isinstance(event, ToolFinished):
                    if event.ok and event.call.name == "write_file":
                        outcome.written.add(self._relative(event.call.parsed_arguments().get("path", "")))
                    state = "ok" if event.ok else f"failed ({event.error_kind})"
                    self._say(node_id, iteration, "tool", f"{event.call.name}({one_line(event.call.arguments, 200)}) "
                                                          f"{state}: {one_line(event.content, 200)}")
                elif isinstance(event, RoundDone):
                    text = ""  # the answer is what the last round said
        outcome.text = text.strip()
        return outcome

    async def _work(self, node_id: str, iteration: int, persona: Persona, outcome: _Outcome) -> dict[str, Any]:
        # The files this step's own tool calls wrote (steps running at the same time share the workspace, so a
        # before/after comparison would mix their files up).
        changes = sorted(outcome.written)
        if not outcome.text and not changes:
            raise UnusableOutputError(f"the {persona.title.lower()}'s answer was empty and it wrote no files",
                                 hint="Check the model assigned to this task type, then resume.")
        work: dict[str, Any] = {"step": node_id, "persona": persona.kind, "iteration": iteration,
                                "summary": outcome.text, "files": sorted(changes),
                                "models": sorted(set(outcome.models))}
        if persona.kind == "review":
            match = VERDICT.search(outcome.text)
            if match is None:
                raise UnusableOutputError("the review has no 'VERDICT: APPROVED' or 'VERDICT: CHANGES' line",
                                     hint="The reviewing model must end with a verdict line.")
            work["verdict"] = "approved" if match.group(1).upper() == "APPROVED" else "changes"
            work["feedback"] = outcome.text[match.end():].strip() or outcome.text[:match.start()].strip()
        if persona.kind == "test":
            report = await asyncio.to_thread(run_workspace_tests, self.workspace)
            work["tests"] = report.to_dict()
            self._say(node_id, iteration, "tests", report.summary())
        self.runs.save_files(self.run_id, node_id, iteration, {path: _file_record(self.workspace / path)
                                                               for path in changes})
        if outcome.text:
            self._say(node_id, iteration, "summary", outcome.text)
        if changes:
            self._say(node_id, iteration, "files", ", ".join(sorted(changes)))
        if "verdict" in work:
            self._say(node_id, iteration, "verdict", work["verdict"])
        return work

    def _brief(self, node_id: str, iteration: int, inputs: dict[str, Any]) -> str:
        """The requirement, what the earlier steps said (from the shared context), the files so far, and the
        review's feedback when this is a revision."""
        upstream = self.graph.upstream(node_id)
        entries = [e for e in self.runs.context(self.run_id, upstream | {node_id})
                   if e.kind in ("summary", "files", "tests", "feedback")]
        context = _render(entries)[-CONTEXT_CHARS:]
        files = sorted(_snapshot(self.workspace))
        parts = [f"Requirement:\n{inputs.get('requirement') or self.record.requirement}"]
        if context:
            parts.append(f"What the team has done so far:\n{context}")
        parts.append("Files in the workspace: " + (", ".join(files[:200]) if files else "none yet"))
        if iteration > 1:
            feedback = [e.content for e in entries if e.kind == "feedback" and e.node_id == node_id]
            if feedback:
                parts.append(f"This is revision {iteration}. Address this review:\n{feedback[-1]}")
        return "\n\n".join(parts)

    # ---- helpers -----------------------------------------------------------------------------------------------

    def _relative(self, raw: str) -> str:
        path = Path(raw)
        absolute = (path if path.is_absolute() else self.workspace / path).resolve()
        try:
            return absolute.relative_to(self.workspace.resolve()).as_posix()
        except ValueError:
            return raw

    def _iteration(self, node_id: str) -> int:
        return self.runs.finished_iterations(self.run_id, node_id)

    def _say(self, node_id: str, iteration: int, kind: str, text: str) -> None:
        entry = self.runs.append(self.run_id, node_id, iteration, kind, text)
        self.events.emit(RunEvent(self.run_id, "message", node_id, f"[{kind}] {entry.content}", iteration))

    def _node_event(self, event: NodeEvent) -> None:
        self.events.emit(RunEvent(self.run_id, event.kind, event.node_id, event.error or ""))

    def _check_workspace(self) -> None:
        if not self.workspace.is_dir():
            raise NexusError(f"The run's workspace folder {self.workspace} is gone.",
                             hint="Resume the run: the files its finished steps wrote are restored from the store.")

    def _restore_workspace(self) -> None:
        """Recreate the workspace's files from the finished steps' records when they are missing."""
        self.workspace.mkdir(parents=True, exist_ok=True)
        restored = []
        for path, (sha, text) in self.runs.latest_files(self.run_id).items():
            target = self.workspace / path
            if sha is None or text is None or target.exists():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(target, text)
            restored.append(path)
        if restored:
            log.info("agent run %s: restored %d file(s) into the workspace", self.run_id, len(restored))

    def _finish(self, result: RunResult, loops: dict[str, Any], started: float, state: str,
                error: str | None) -> dict[str, Any]:
        report = build_report(self.runs, self.run_id, self.graph, result, loops, time.perf_counter() - started,
                              state, error)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.out_dir / "report.json", json.dumps(report, indent=2))
        atomic_write_text(self.out_dir / "report.md", report_markdown(report))
        self.runs.set_state(self.run_id, state, error)  # after the report: a finished run always has one
        self.events.emit(RunEvent(self.run_id, "ended", text=state))
        return report


def build_report(runs: AgentRunStore, run_id: str, graph: Graph, result: RunResult, loops: dict[str, Any],
                 wall_s: float, state: str, error: str | None) -> dict[str, Any]:
    record = runs.get(run_id)
    steps = runs.steps(run_id)
    tests = None
    for node_id, node in result.nodes.items():
        work = node.outputs.get("work") or {}
        if "tests" in work:
            tests = {"step": node_id, **work["tests"]}
    return {
        "run_id": run_id, "workflow": record.workflow, "requirement": record.requirement, "state": state,
        "error": error, "wall_s": round(wall_s, 3),
        "model_s": round(sum(s.model_ms for s in steps) / 1000, 3),
        "input_tokens": sum(s.input_tokens for s in steps), "output_tokens": sum(s.output_tokens for s in steps),
        "review_rounds": loops.get("rounds", {}),
        "steps": [{"step": s.node_id, "title": graph.nodes[s.node_id].title if s.node_id in graph.nodes else "",
                   "persona": s.persona, "iteration": s.iteration, "status": s.status, "attempts": s.attempts,
                   "models": s.models, "input_tokens": s.input_tokens, "output_tokens": s.output_tokens,
                   "model_s": round(s.model_ms / 1000, 3), "duration_s": round(s.duration_s, 3), "error": s.error,
                   "files": [p for p, _deleted in runs.step_files(run_id, s.node_id, s.iteration)]}
                  for s in steps],
        "files": sorted(p for p, (sha, _t) in runs.latest_files(run_id).items() if sha is not None),
        "tests": tests,
    }


def report_markdown(report: dict[str, Any]) -> str:
    lines = [f"# Agent run {report['run_id'][:12]} — {report['workflow']}", "",
             f"**Requirement:** {report['requirement']}", "",
             f"**State:** {report['state']}" + (f" — {report['error']}" if report["error"] else ""),
             f"**Time:** {report['wall_s']:.1f} s ({report['model_s']:.1f} s in model calls) · **Tokens:** "
             f"{report['input_tokens']} in, {report['output_tokens']} out", "",
             "| step | agent | iteration | status | attempts | models | tokens in/out | model s | s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for s in report["steps"]:
        lines.append(f"| {s['step']} | {s['persona']} | {s['iteration']} | {s['status']} | {s['attempts']} | "
                     f"{', '.join(s['models'])} | {s['input_tokens']}/{s['output_tokens']} | {s['model_s']:.1f} | "
                     f"{s['duration_s']:.1f} |")
    if report["tests"]:
        lines += ["", f"**Tests** ({report['tests']['step']}): {report['tests']['summary']}"]
        lines += [f"- {f}" for f in report["tests"]["failures"] + report["tests"]["errors"]]
    lines += ["", "**Files:** " + (", ".join(report["files"]) or "none")]
    return "\n".join(lines) + "\n"


# ---- small helpers ---------------------------------------------------------------------------------------------


async def _allow_in_workspace(_request: ApprovalRequest) -> Approval:
    """Agents' risky tools are allowed: file writes stay inside the run's workspace, code runs in the sandbox."""
    return "once"


_AGENT_TOOLS: dict[str, Any] = {}


def _agent_tools() -> dict[str, Any]:
    if not _AGENT_TOOLS:
        from nexus_core.agents.testing import run_tests

        _AGENT_TOOLS["run_tests"] = run_tests
    return _AGENT_TOOLS


def _snapshot(workspace: Path) -> dict[str, str]:
    """Every file under the workspace: relative path → sha256."""
    found: dict[str, str] = {}
    if not workspace.is_dir():
        return found
    for path in workspace.rglob("*"):
        relative = path.relative_to(workspace)
        if path.is_file() and not any(part in ("__pycache__", ".git") for part in relative.parts):
            found[relative.as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def _file_record(path: Path) -> tuple[str | None, str | None]:
    if not path.is_file():
        return None, None
    data = path.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return sha, None
    return sha, text if len(text) <= MAX_FILE_CHARS else None


def _render(entries: list[ContextEntry]) -> str:
    return "\n".join(f"[{e.node_id} #{e.iteration} {e.kind}] {e.content}" for e in entries)


def _add(total: _Outcome, part: _Outcome) -> None:
    total.models += part.models
    total.input_tokens += part.input_tokens
    total.output_tokens += part.output_tokens
    total.model_ms += part.model_ms

