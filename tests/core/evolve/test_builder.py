"""Module builds end to end against a scripted code-generation model: good, flawed and hostile answers;
approval facts; install; the real integration call against a loopback mock API; the build history."""

from __future__ import annotations

from pathlib import Path

import pytest

from nexus_core.core import Core
from nexus_core.evolve.builder import BuildEvent
from nexus_core.evolve.install import approval_facts, install_build, integration_test, reject_build
from nexus_core.evolve.mock_api import MockApi
from nexus_core.evolve.output import BuildOutputError, parse_build
from nexus_core.providers.errors import ProviderError
from tests.support.llm_servers import ScriptedOpenAIServer
from tests.support.memory_keyring import MemoryKeyring
from tests.support.recorded_builds import PROSE, RecordedBuild, answer, recorded_builds, replay


@pytest.mark.parametrize("build", recorded_builds(), ids=lambda b: b.label)
def test_recorded_builds_end_as_expected(core: Core, server: ScriptedOpenAIServer, books_api: MockApi,
                                         build: RecordedBuild) -> None:
    replay(server, build, books_api.host)
    events: list[BuildEvent] = []
    result = core.builder.build(build.description, progress=events.append)
    assert result.status == build.expect, result.message
    assert result.fix_rounds == build.expect_fix_rounds
    assert result.category == (None if build.expect == "ready" else build.expect_category) or build.expect == "ready"
    assert result.model == "loc/m1" and result.template_version == 1
    assert events[0].stage == "writing" and events[-1].stage == build.expect
    row = core.builder.records.recent(1)[0]
    assert (row.status, row.fix_rounds, row.origin) == (build.expect, build.expect_fix_rounds, "user")
    if build.expect == "failed":
        assert "stopped after 3 fix rounds" in result.message
        assert server.pending == 0 or build.label == "prose every time"
    else:
        assert result.manifest is not None and result.manifest.provenance.built_by == "agent"
        assert result.manifest.provenance.model == "loc/m1"


def test_the_model_sees_the_template_and_the_validation_problems(core: Core, server: ScriptedOpenAIServer,
                                                                 books_api: MockApi) -> None:
    build = recorded_builds()[1]  # a wrong expectation in the tests, fixed in round 1
    replay(server, build, books_api.host)
    result = core.builder.build(build.description)
    assert result.status == "ready"
    first, second = server.requests[-2].body["messages"], server.requests[-1].body["messages"]
    assert "Writing a Nexus Studio integration module" in first[0]["content"]
    assert "Template (version 1)" in first[0]["content"] and build.description in first[1]["content"]
    feedback = second[-1]["content"]
    assert "did not pass validation" in feedback and "tests:" in feedback and "test_search" in feedback
    assert result.rounds[0].problems and result.rounds[1].problems == []


def test_approval_install_and_a_real_integration_call_make_the_module_live(
        core: Core, server: ScriptedOpenAIServer, books_api: MockApi) -> None:
    replay(server, recorded_builds()[0], books_api.host)
    result = core.builder.build("build me a module to look up books by title")
    facts = approval_facts(result, core.modules)
    assert facts["name"] == "book_lookup" and facts["hosts"] == [books_api.host]
    assert facts["credentials"] == [] and "4 test(s) passed" in facts["tests"]
    assert set(facts["code"]) == {"adapter.py", "test_adapter.py"} and "class BookLookup" in facts["code"][
        "adapter.py"]
    assert "book_lookup" not in [s.name for s in core.modules.statuses()]  # nothing installed before approval
    status = install_build(core.modules, result, records=core.builder.records)
    assert status.name == "book_lookup" and status.version == "1.0.0"
    outcome = integration_test(core.modules, result, core.builder.records)
    assert outcome.status == "live", outcome.detail
    assert outcome.value == [{"title": "Dune", "authors": ["Frank Herbert"], "year": 1965},
                             {"title": "Dune Messiah", "authors": ["Frank Herbert"], "year": 1969}]
    assert any(r.path == "/search.json" and r.query.get("q") == "dune" for r in books_api.seen)
    assert "book_lookup__search" in core.tools.names()
    assert core.builder.records.recent(1)[0].status == "installed"


def test_a_failing_integration_call_disables_the_module(core: Core, server: ScriptedOpenAIServer,
                                                        books_api: MockApi) -> None:
    replay(server, recorded_builds()[0], books_api.host)
    result = core.builder.build("build me a module to look up books by title")
    install_build(core.modules, result)
    books_api.stop()  # the real service is gone
    outcome = integration_test(core.modules, result, core.builder.records)
    assert outcome.status == "failed" and "disabled" in outcome.detail
    assert core.modules.status("book_lookup").state == "disabled"


def test_rejected_and_failed_builds_are_never_installed(core: Core, server: ScriptedOpenAIServer,
                                                        books_api: MockApi) -> None:
    replay(server, recorded_builds()[0], books_api.host)
    result = core.builder.build("build me a module to look up books by title")
    reject_build(result, core.builder.records)
    assert core.builder.records.recent(1)[0].status == "rejected"
    failed = recorded_builds()[5]
    replay(server, failed, books_api.host)
    bad = core.builder.build(failed.description)
    with pytest.raises(Exception, match="passed validation"):
        install_build(core.modules, bad)


def test_no_assigned_model_is_said_before_any_work(nexus_home: Path) -> None:
    opened = Core.open(nexus_home, keyring_backend=MemoryKeyring())
    try:
        with pytest.raises(ProviderError, match="No model is assigned"):
            opened.builder.build("build me a weather module")
    finally:
        opened.close(job_timeout=5)


def test_output_parsing_accepts_sections_or_json_and_explains_the_rest() -> None:
    parsed = parse_build(answer())
    assert parsed.spec.name == "book_lookup" and set(parsed.files) == {"adapter.py", "test_adapter.py"}
    import json

    as_json = json.dumps({**json.loads(answer().split("```json\n")[1].split("\n```")[0]),
                          "files": {"adapter.py": "x = 1", "test_adapter.py": "y = 2"}})
    assert parse_build(f"```json\n{as_json}\n```").files["adapter.py"] == "x = 1\n"
    for bad, message in ((PROSE, "prose"), (answer().replace("### test_adapter.py", "### notes"), "test_adapter.py"),
                         (answer().replace('"class_name": "BookLookup",', ""), "class_name"),
                         (answer().replace("### adapter.py", "### ../evil.py"), "not allowed")):
        with pytest.raises(BuildOutputError, match=message):
            parse_build(bad)


def test_a_build_request_in_the_chat_takes_the_build_path(core: Core, server: ScriptedOpenAIServer,
                                                          books_api: MockApi) -> None:
    build = recorded_builds()[1]  # one fix round, so the answer shows every stage
    replay(server, build, books_api.host)
    turn = core.chat.send(None, "Build me a book lookup module for Open Library")
    stored = turn.wait(120)
    assert stored.status == "complete", stored.error
    assert "The model is writing the module" in stored.content and "fixing the module (round 1" in stored.content
    assert "**Book lookup** is built and tested (4 test(s) passed" in stored.content
    assert "nothing is installed until you approve" in stored.content
    meta = stored.meta["build"]
    assert meta["status"] == "ready" and meta["module"] == "book_lookup" and meta["fix_rounds"] == 1
    assert stored.meta["task_type"] == "build_module"
    pending = core.builder.result(meta["id"])
    assert pending is not None and pending.status == "ready"
    assert "book_lookup" not in [s.name for s in core.modules.statuses()]
