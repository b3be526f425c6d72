"""The escape corpus: every attempt in escapes/ must be contained, with bubblewrap and without.

Each corpus file tries one way out. Placeholders in it are filled in per run: NEXUS_MARKER_TMP (a file in
/tmp), NEXUS_MARKER_REPO (a file in the repository), NEXUS_MARKER_NAME (the marker's bare name) and
NEXUS_LOOPBACK_PORT (a listener on the host's loopback). Contained means: the run ended within its limits,
no marker exists, the loopback listener got no connection, neither /etc/passwd nor the parent's secret
appears in the output, and the result shows the attempt was blocked or limited (a file whose header says
"# Contained-by: failure" may instead just fail: there is nothing in it for the guard to refuse).

Three configurations: the full stack with bubblewrap, the full stack without it, and without it *and*
without the AST gate (so the runtime guard and the limits alone are what contain it).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from nexus_core.sandbox import Sandbox, SandboxMode, SandboxResult, check_code, policy_for
from tests.core.sandbox.conftest import FAST, GRACE_S, connections_to, needs_bwrap

CORPUS = Path(__file__).with_name("escapes")
REPO = Path(__file__).resolve().parents[3]
CORPUS_FILES = sorted(CORPUS.glob("*.py"))
# Attempts the layers without bubblewrap cannot contain: (file stem, configuration) -> reason. Each one is
# strict: if it starts being contained, the test fails so the entry is removed.
NOT_CONTAINED_WITHOUT_BWRAP: dict[tuple[str, str], str] = {}
CONFIGS = [
    pytest.param(True, True, id="bwrap", marks=needs_bwrap),
    pytest.param(False, True, id="no-bwrap"),
    pytest.param(False, False, id="guard-only"),
]


@dataclass
class Attempt:
    """One corpus file filled in for one run, and what it must not leave behind."""

    code: str
    markers: list[Path]
    secret: str
    may_just_fail: bool  # "# Contained-by: failure": an error ends it, with nothing for the guard to refuse


def prepare(path: Path, port: int, secret: str) -> Attempt:
    name = f"nexus-escape-{uuid.uuid4().hex}"
    tmp_marker, repo_marker = Path("/tmp") / name, REPO / name
    code = (path.read_text(encoding="utf-8").replace("NEXUS_MARKER_TMP", str(tmp_marker))
            .replace("NEXUS_MARKER_REPO", str(repo_marker)).replace("NEXUS_MARKER_NAME", name)
            .replace("NEXUS_LOOPBACK_PORT", str(port)))
    return Attempt(code, [tmp_marker, repo_marker, Path("/") / name], secret,
                   may_just_fail="\n# Contained-by: failure" in code)


def breaches(attempt: Attempt, result: SandboxResult, loopback_hits: int) -> list[str]:
    """Every way this run got out; empty means contained."""
    found = []
    output = result.stdout + result.stderr
    if result.duration_s > FAST.wall_s + GRACE_S:
        found.append(f"ran {result.duration_s:.1f}s, past the wall limit")
    found += [f"created {m}" for m in attempt.markers if m.exists()]
    if "root:x:0:0" in output or "root:*:" in output or "root:!" in output:
        found.append("printed /etc/passwd or /etc/shadow")
    if attempt.secret in output:
        found.append("printed the parent's secret")
    if loopback_hits:
        found.append(f"connected to the host loopback listener {loopback_hits} time(s)")
    if attempt.may_just_fail:
        if result.ok:
            found.append("finished as if nothing was refused")
    elif not (result.blocked or result.limit_hit or not result.ran):
        found.append(f"neither blocked nor limited (exit {result.exit_code}): {result.stderr.strip()[-200:]}")
    return found


def corpus_params() -> list:  # type: ignore[type-arg]
    """Every file in every configuration, except guard-only for files the gate lets through (same as no-bwrap)."""
    params = []
    code_policy = policy_for(SandboxMode.CODE)
    for path in CORPUS_FILES:
        gate_passes = not check_code(path.read_text(encoding="utf-8"), code_policy)
        for config in CONFIGS:
            use_bwrap, gate = config.values
            if gate_passes and not gate:
                continue
            key = (path.stem, config.id or "")
            marks = list(config.marks)
            if key in NOT_CONTAINED_WITHOUT_BWRAP:
                marks.append(pytest.mark.xfail(strict=True, reason=NOT_CONTAINED_WITHOUT_BWRAP[key]))
            params.append(pytest.param(path, use_bwrap, gate, id=f"{path.stem}-{config.id}", marks=marks))
    return params


def test_corpus_is_large_and_documented() -> None:
    assert len(CORPUS_FILES) >= 25
    for path in CORPUS_FILES:
        assert path.read_text(encoding="utf-8").startswith("# Tries: "), path.name


@pytest.mark.parametrize(("path", "use_bwrap", "gate"), corpus_params())
def test_escape_attempt_is_contained(path: Path, use_bwrap: bool, gate: bool, loopback_listener,  # type: ignore[no-untyped-def]
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    secret = f"nexus-test-secret-{uuid.uuid4().hex}"
    monkeypatch.setenv("NEXUS_TEST_SECRET", secret)
    attempt = prepare(path, loopback_listener.getsockname()[1], secret)
    result = Sandbox(limits=FAST, use_bubblewrap=use_bwrap, ast_gate=gate).run_code(attempt.code)
    try:
        assert breaches(attempt, result, connections_to(loopback_listener)) == [], result.summary()
    finally:
        for marker in attempt.markers:
            marker.unlink(missing_ok=True)
