"""The co-evolution loop: a curriculum agent proposes an integration challenge a step harder than the last
success (against a mock service it describes as data), the executor — the module builder — builds it, the
result is checked by really calling the module in its sandbox against that mock service; passes fold the
module into a new template version as an example, failures are categorised and steer the next challenge.

Off by default; every model call counts against a daily budget.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nexus_core.errors import NexusError
from nexus_core.events import Emitter
from nexus_core.evolve.builder import BuildResult, ModuleBuilder
from nexus_core.evolve.mock_api import MockApi, MockApiSpec
from nexus_core.evolve.output import json_object
from nexus_core.evolve.records import FAILURE_CATEGORIES, BuildRecords
from nexus_core.evolve.templates import TemplateStore
from nexus_core.providers.types import ChatMessage
from nexus_core.routing.classify import TaskType, Tier
from nexus_core.routing.router import RouteDecision

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pattern:
    name: str
    difficulty: int
    what: str


LADDER = (
    Pattern("basic_get", 1, "one GET endpoint with query parameters, returning JSON"),
    Pattern("error_mapping", 2, "the service answers 404 and 400 for bad input; the module turns them into clear "
                                "errors and returns data otherwise"),
    Pattern("api_key_header", 2, "every request must carry an API key header (a credential the module reads)"),
    Pattern("pagination", 3, "a listing split over pages (page numbers or a next cursor); one operation must "
                             "collect every page"),
    Pattern("rate_limit_retry", 3, "the service first answers 429 with Retry-After; the operation must wait and "
                                   "retry instead of failing"),
    Pattern("oauth2_refresh", 4, "requests need a bearer token obtained from a token endpoint with a refresh-token "
                                 "credential (POST, form fields)"),
    Pattern("webhooks", 5, "register a webhook subscription (POST), list subscriptions and delete one"),
)
PATTERNS = {p.name: p for p in LADDER}


class ChallengeCheck(BaseModel):
    model_config = ConfigDict(extra="forbid")

    operation: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    expect: Any = None  # the result must contain this (dict keys and list items, recursively)
    expect_requests: list[dict[str, Any]] = Field(default_factory=list)  # {"path", "method"?, "query"?} seen


class Challenge(BaseModel):
    model_config = ConfigDict(extra="ignore")

    pattern: str
    difficulty: int = Field(ge=1, le=5)
    title: str = Field(min_length=3, max_length=160)
    request: str = Field(min_length=10)
    api_doc: str = Field(min_length=10)
    mock_api: MockApiSpec
    credentials: dict[str, str] = Field(default_factory=dict)
    check: ChallengeCheck


@dataclass
class RoundOutcome:
    status: str  # passed | failed | no_challenge | budget
    detail: str
    challenge: Challenge | None = None
    build: BuildResult | None = None
    category: str | None = None
    template_version: int | None = None  # the new version, when this round produced one
    calls: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "detail": self.detail, "category": self.category, "calls": self.calls,
                "challenge": self.challenge.title if self.challenge else None,
                "pattern": self.challenge.pattern if self.challenge else None,
                "difficulty": self.challenge.difficulty if self.challenge else None,
                "fix_rounds": self.build.fix_rounds if self.build else None,
                "new_template_version": self.template_version}


def contains(actual: Any, expected: Any) -> bool:
    """Whether ``actual`` holds ``expected``: dict keys recursively, each expected list item somewhere in order."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(k in actual and contains(actual[k], v) for k, v in expected.items())
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return False
        position = 0
        for item in expected:
            while position < len(actual) and not contains(actual[position], item):
                position += 1
            if position == len(actual):
                return False
            position += 1
        return True
    if isinstance(expected, float) and isinstance(actual, int | float):
        return abs(actual - expected) < 1e-6
    return actual == expected


CURRICULUM_GUIDE = """You design practice exercises for an agent that writes integration modules (Python adapters
over web APIs). Each exercise is a small fake web service, described as data, plus a request to build a module
for it and a check of the module's result.

Mock service format: {"routes": [{"method": "GET", "path": "/items", "query": {"page": "2"}, "form": {},
"require_header": {"Authorization": "Bearer abc"}, "status": 200, "json": {...}, "headers": {},
"sequence": [{"status": 429, "headers": {"Retry-After": "0"}}, {"status": 200, "json": {...}}]}]}
Routes are tried in order; query/form must match when given; require_header answers 401 when missing;
sequence answers in turn (the last repeats). Keep Retry-After at 0 or 1 second.

Answer with one JSON object only:
{"pattern": "...", "difficulty": 1-5, "title": "...", "request": "what the module must do",
 "api_doc": "the endpoints as a developer would document them",
 "mock_api": {"routes": [...]}, "credentials": {"NAME": "value the module is given"},
 "check": {"operation": "operation name", "arguments": {...}, "expect": <part of the result>,
           "expect_requests": [{"path": "/items", "query": {"page": "2"}}]}}"""


class EvolutionService:
    def __init__(self, router: Any, aio: Any, modules: Any, builder: ModuleBuilder, templates: TemplateStore,
                 records: BuildRecords, store: Any, settings: Any) -> None:
        self.router = router
        self.aio = aio
        self.modules = modules
        self.builder = builder
        self.templates = templates
        self.records = records
        self.store = store
        self.settings = settings
        self.changed: Emitter[str] = Emitter("evolve.changed")
        self.mock_port = 0  # the loopback port of the practice services; 0: any free one
        self._background: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()  # one round at a time

    # ---- budget ------------------------------------------------------------------------------------

    def _budget_key(self) -> str:
        return f"evolve.calls.{date.today().isoformat()}"

    def calls_today(self) -> int:
        return int(self.store.get_value(self._budget_key(), "0") or 0)

    def budget_left(self) -> int:
        return max(0, int(self.settings.evolve_daily_calls) - self.calls_today())

    def _spend(self, calls: int) -> None:
        self.store.set_value(self._budget_key(), str(self.calls_today() + calls))

    # ---- the curriculum agent ------------------------------------------------------------------------

    def next_target(self) -> tuple[int, list[str], dict[str, int]]:
        """(difficulty, patterns not yet passed at or below it, failure counts by category)."""
        challenges = self.records.challenges(200)
        passed = {c["pattern"] for c in challenges if c["outcome"] == "passed"}
        best = max((c["difficulty"] for c in challenges if c["outcome"] == "passed"), default=0)
        failures = Counter(c["category"] for c in challenges[:20] if c["outcome"] == "failed" and c["category"])
        recent = challenges[:3]
        stuck = len(recent) == 3 and all(c["outcome"] == "failed" for c in recent)
        difficulty = max(1, min(5, best if stuck else best + 1))
        open_patterns = [p.name for p in LADDER if p.difficulty <= difficulty and p.name not in passed]
        return difficulty, open_patterns or [p.name for p in LADDER if p.difficulty == difficulty], dict(failures)

    def _curriculum_prompt(self) -> list[ChatMessage]:
        difficulty, patterns, failures = self.next_target()
        ladder = "\n".join(f"- {p.name} (difficulty {p.difficulty}): {p.what}" for p in LADDER)
        weak = ", ".join(f"{k}: {v}" for k, v in sorted(failures.items(), key=lambda kv: -kv[1])) or "none yet"
        user = (f"Patterns:\n{ladder}\n\nPropose one exercise at difficulty {difficulty}, pattern one of: "
                f"{', '.join(patterns)}.\nRecent build failures by category ({', '.join(FAILURE_CATEGORIES)}): "
                f"{weak}. Make the exercise exercise the weakest area where it fits the pattern.")
        return [ChatMessage("system", CURRICULUM_GUIDE), ChatMessage("user", user)]

    def _ask(self, messages: list[ChatMessage]) -> str:
        route = RouteDecision(TaskType.REASONING, Tier.HEAVY.value, self.router.candidates(TaskType.REASONING,
                                                                                             Tier.HEAVY),
                              "co-evolution curriculum", "rules")
        text, _model = self.aio.run(self.router.complete(route, messages, module_context="evolve.curriculum",
                                                         temperature=0.7), timeout=300.0)
        return text

    def propose(self) -> tuple[Challenge | None, int, str]:
        """(challenge or None, model calls used, why there is none)."""
        messages = self._curriculum_prompt()
        calls, problem = 0, ""
        for _attempt in range(2):
            answer = self._ask(messages)
            calls += 1
            data = json_object(answer)
            if data is None:
                problem = "the curriculum answer was not a JSON object"
            else:
                try:
                    challenge = Challenge.model_validate(data)
                except ValidationError as exc:
                    problem = "the challenge does not fit: " + "; ".join(
                        f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])
                else:
                    if challenge.pattern in PATTERNS:
                        return challenge, calls, ""
                    problem = f"unknown pattern {challenge.pattern!r}; use one of {', '.join(PATTERNS)}"
            messages = [*messages, ChatMessage("assistant", answer[:4000]),
                        ChatMessage("user", f"That cannot be used: {problem}. Answer with the JSON object only.")]
        return None, calls, problem

    # ---- one round ---------------------------------------------------------------------------------

    def run_round(self, *, progress: Callable[[str], None] | None = None, mock_port: int = 0) -> RoundOutcome:
        tell = progress or (lambda _text: None)
        with self._lock:
            if self.budget_left() <= 0:
                return RoundOutcome("budget", f"today's budget of {self.settings.evolve_daily_calls} model calls "
                                              "is used up")
            tell("The curriculum agent is proposing a challenge…")
            challenge, calls, problem = self.propose()
            if challenge is None:
                self._spend(calls)
                return RoundOutcome("no_challenge", problem, calls=calls)
            challenge_id = self.records.add_challenge(challenge.pattern, challenge.difficulty, challenge.title,
                                                      challenge.model_dump(by_alias=True))
            with MockApi(challenge.mock_api, port=mock_port or self.mock_port) as api:
                tell(f"Building: {challenge.title} ({challenge.pattern}, difficulty {challenge.difficulty})…")
                build = self.builder.build(self._executor_request(challenge, api), origin="evolve")
                calls += build.model_calls
                outcome = self._evaluate(challenge, build, api)
            outcome.calls = calls
            self._spend(calls)
            self.records.close_challenge(challenge_id, build.build_id, outcome.status)
            if build.build_id is not None and outcome.status == "failed" and outcome.category:
                self.records.set_status(build.build_id, build.status, outcome.category)
            if outcome.status == "passed":
                outcome.template_version = self._fold_in(challenge, build)
            tell(f"{outcome.status}: {outcome.detail}")
            self.changed.emit(outcome.status)
            return outcome

    def run(self, rounds: int, *, progress: Callable[[str], None] | None = None,
            mock_port: int = 0) -> list[RoundOutcome]:
        outcomes = []
        for _ in range(rounds):
            outcome = self.run_round(progress=progress, mock_port=mock_port)
            outcomes.append(outcome)
            if outcome.status == "budget":
                break
        return outcomes

    @staticmethod
    def _executor_request(challenge: Challenge, api: MockApi) -> str:
        creds = ", ".join(challenge.credentials) or "none"
        return (f"{challenge.request}\n\nThe service runs at {api.base_url}: make that the default base_url in "
                f"the config and declare {api.host} in network_hosts. Credentials the module receives: {creds}.\n\n"
                f"API:\n{challenge.api_doc}\n\nThe integration_check must call {challenge.check.operation} with "
                f"{json.dumps(challenge.check.arguments)}.")

    def _evaluate(self, challenge: Challenge, build: BuildResult, api: MockApi) -> RoundOutcome:
        if build.status != "ready" or build.folder is None or build.manifest is None:
            return RoundOutcome("failed", build.message, challenge, build, build.category or "test")
        from nexus_core.modules.worker import ModuleCallError, ModuleWorker

        check = challenge.check
        try:
            worker = ModuleWorker(build.folder, build.manifest, config={}, credentials=challenge.credentials,
                                  use_bubblewrap=getattr(self.modules, "use_bubblewrap", None))
        except NexusError as exc:
            return RoundOutcome("failed", f"the module did not load: {exc.what}", challenge, build, "protocol")
        try:
            value = worker.call(check.operation, check.arguments, timeout_s=60.0)
        except ModuleCallError as exc:
            category = "timeout" if exc.kind == "timeout" else "protocol"
            return RoundOutcome("failed", f"the real call failed: {exc.what}", challenge, build, category)
        finally:
            worker.close()
        if check.expect is not None and not contains(value, check.expect):
            return RoundOutcome("failed", f"the call returned {json.dumps(value, default=str)[:300]}, which does not "
                                          f"contain {json.dumps(check.expect)[:200]}", challenge, build, "protocol")
        for wanted in check.expect_requests:
            if not any(seen.path == wanted.get("path") and seen.method == str(wanted.get("method", seen.method))
                       .upper() and all(seen.query.get(k) == str(v) for k, v in (wanted.get("query") or {}).items())
                       for seen in api.seen):
                return RoundOutcome("failed", f"the module never requested {json.dumps(wanted)}", challenge, build,
                                    "protocol")
        return RoundOutcome("passed", f"{build.manifest.display_name} passed against the mock service after "
                                      f"{build.fix_rounds} fix round(s)", challenge, build)

    def _fold_in(self, challenge: Challenge, build: BuildResult) -> int | None:
        """A successful pattern becomes an example in a new template version (once per pattern)."""
        current = self.templates.current()
        if challenge.pattern in current.patterns or build.folder is None:
            return None
        source = (build.folder / "adapter.py").read_text(encoding="utf-8")
        header = f'"""Example for {challenge.pattern}: {challenge.title}."""\n'
        template = self.templates.evolve(challenge.pattern, header + source,
                                         f"learned {challenge.pattern} from challenge '{challenge.title}'")
        return template.version

    # ---- progress ----------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """Template versions, build success over time, failure categories, recent challenges, budget."""
        builds = list(reversed(self.records.recent(500, origin="evolve")))
        passed_by_build = {c["id"]: c for c in self.records.challenges(500)}
        outcomes = [c for c in reversed(list(passed_by_build.values())) if c["outcome"]]
        success, window = [], []
        for index, challenge in enumerate(outcomes, 1):
            window.append(challenge["outcome"] == "passed")
            success.append((index, sum(window[-10:]) / len(window[-10:])))
        categories = Counter(c["category"] for c in outcomes if c["outcome"] == "failed" and c["category"])
        return {"enabled": bool(self.settings.evolve_enabled), "calls_today": self.calls_today(),
                "budget": int(self.settings.evolve_daily_calls), "builds": len(builds),
                "rounds": len(outcomes), "passed": sum(c["outcome"] == "passed" for c in outcomes),
                "success_rate": success, "failure_categories": {k: categories.get(k, 0) for k in FAILURE_CATEGORIES},
                "templates": [{"version": t.version, "note": t.note, "patterns": t.patterns,
                               "created_at": t.created_at} for t in self.templates.versions()],
                "challenges": self.records.challenges(20), "next": self.next_target()[:2]}

    # ---- background ----------------------------------------------------------------------------------

    def start_background(self, submit: Callable[[Callable[[], Any], str], Any]) -> None:
        """While ``evolve_enabled``, submit a round every ``evolve_interval_min`` minutes (through ``submit``,
        the job runner) until the day's budget is spent."""
        if self._background is not None:
            return
        stop = self._stop = threading.Event()  # each loop its own: a quick off-on never leaves two running

        def loop() -> None:
            while not stop.wait(float(self.settings.evolve_interval_min) * 60.0):
                if self.settings.evolve_enabled and self.budget_left() > 0 and not self._lock.locked():
                    try:
                        submit(lambda: self.run_round().to_dict(), "Co-evolution round")
                    except Exception:  # the runner shutting down: nothing to do until the next start
                        log.exception("could not submit a co-evolution round")

        self._background = threading.Thread(target=loop, name="evolve-background", daemon=True)
        self._background.start()

    def stop_background(self) -> None:
        self._stop.set()
        self._background = None
