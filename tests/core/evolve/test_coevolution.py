"""The co-evolution loop against a scripted model: a challenge passes against its mock service and becomes a
template example; a harder one fails for real and is categorised; the daily budget stops the loop."""

from __future__ import annotations

import json

from nexus_core.core import Core
from nexus_core.evolve.coevolution import contains
from nexus_core.evolve.mock_api import MockApi, MockApiSpec
from tests.support.llm_servers import ScriptedOpenAIServer, text
from tests.support.ports import free_port
from tests.support.recorded_builds import (
    PAGINATION_ADAPTER,
    PAGINATION_CHALLENGE,
    PAGINATION_TESTS,
    QUOTE_ADAPTER,
    QUOTE_TESTS,
    RATE_LIMIT_CHALLENGE,
    module_answer,
)


def test_a_passed_challenge_becomes_a_template_example_and_a_failed_one_is_categorised(
        core: Core, server: ScriptedOpenAIServer) -> None:
    port = free_port()
    host = f"127.0.0.1:{port}"
    server.script(text([json.dumps(PAGINATION_CHALLENGE)]),
                  text([module_answer("catalog", "Catalog", "all_items", PAGINATION_ADAPTER, PAGINATION_TESTS)
                        .replace("HOST", host)]))
    said: list[str] = []
    first = core.evolve.run_round(progress=said.append, mock_port=port)
    assert first.status == "passed", first.detail
    assert first.template_version == 2 and first.calls == 2
    assert said[0].startswith("The curriculum agent") and said[-1].startswith("passed")
    template = core.builder.templates.current()
    assert template.version == 2 and template.patterns == ["pagination"]
    assert "Example for pagination" in template.examples()["pagination"]
    build_request = server.requests[-1].body["messages"][1]["content"]
    assert f"http://{host}" in build_request and "all_items" in build_request  # the executor got the mock service
    curriculum_prompt = server.requests[0].body["messages"][1]["content"]
    assert "difficulty 1" in curriculum_prompt

    server.script(text([json.dumps(RATE_LIMIT_CHALLENGE)]),
                  text([module_answer("quotes", "Quotes", "quote", QUOTE_ADAPTER, QUOTE_TESTS).replace("HOST", host)]))
    second = core.evolve.run_round(mock_port=port)
    assert second.status == "failed" and second.category == "protocol"
    assert "429" in second.detail and second.template_version is None
    assert "difficulty 4" in server.requests[-2].body["messages"][1]["content"]  # a step above the last success
    assert "Example for pagination" in server.requests[-1].body["messages"][0]["content"]  # the new template

    status = core.evolve.status()
    assert (status["rounds"], status["passed"], status["calls_today"]) == (2, 1, 4)
    assert status["failure_categories"]["protocol"] == 1 and [t["version"] for t in status["templates"]] == [1, 2]
    assert status["success_rate"] == [(1, 1.0), (2, 0.5)]
    assert [c["outcome"] for c in status["challenges"]] == ["failed", "passed"]
    assert [b.origin for b in core.builder.records.recent(5)] == ["evolve", "evolve"]

    core.settings.evolve_daily_calls = 4
    assert core.evolve.run_round().status == "budget"


def test_a_curriculum_that_cannot_produce_a_challenge_is_reported(core: Core, server: ScriptedOpenAIServer) -> None:
    server.script(text(["Here are some ideas for exercises: pagination, retries."]),
                  text([json.dumps({**PAGINATION_CHALLENGE, "pattern": "telepathy"})]))
    outcome = core.evolve.run_round()
    assert outcome.status == "no_challenge" and "telepathy" in outcome.detail and outcome.calls == 2
    assert core.evolve.calls_today() == 2


def test_the_mock_service_plays_routes_sequences_and_required_headers() -> None:
    import httpx

    spec = MockApiSpec.model_validate({"routes": [
        {"method": "POST", "path": "/token", "form": {"grant_type": "refresh_token"}, "json": {"access_token": "t2"}},
        {"method": "GET", "path": "/me", "require_header": {"Authorization": "Bearer t2"}, "json": {"id": 7}},
        {"method": "GET", "path": "/busy", "sequence": [{"status": 429, "headers": {"Retry-After": "0"}},
                                                        {"status": 200, "json": {"ok": True}}]}]})
    with MockApi(spec) as api, httpx.Client(base_url=api.base_url) as client:
        assert client.get("/me").status_code == 401
        token = client.post("/token", data={"grant_type": "refresh_token"}).json()["access_token"]
        assert client.get("/me", headers={"Authorization": f"Bearer {token}"}).json() == {"id": 7}
        assert [client.get("/busy").status_code for _ in range(3)] == [429, 200, 200]
        assert client.get("/nowhere").status_code == 404
    assert [(s.method, s.path, s.status) for s in api.seen][:3] == [("GET", "/me", 401), ("POST", "/token", 200),
                                                                     ("GET", "/me", 200)]


def test_contains_matches_parts_of_results() -> None:
    assert contains({"a": 1, "b": [1, 2, 3]}, {"b": [1, 3]})
    assert contains([{"id": 1, "x": 2}, {"id": 2}], [{"id": 2}])
    assert not contains([1, 2], [2, 1]) and not contains({"a": 1}, {"a": 2}) and not contains("x", {"a": 1})
