"""The integration proxy's host allowlist."""

from __future__ import annotations

import pytest

from nexus_core.sandbox.proxy import HostAllowlist, parse_host


@pytest.mark.parametrize(("text", "expected"), [
    ("api.example.com", ("api.example.com", None)),
    ("API.Example.com:8443", ("api.example.com", 8443)),
    ("127.0.0.1:8080", ("127.0.0.1", 8080)),
    ("[::1]:9000", ("::1", 9000)),
])
def test_parse_host(text: str, expected: tuple[str, int | None]) -> None:
    assert parse_host(text) == expected


def test_allowlist_matching() -> None:
    allow = HostAllowlist(["api.example.com", "127.0.0.1:8080", "*.svc.example.org"])
    assert allow.allows("api.example.com", 443) and allow.allows("API.example.com", 80)
    assert not allow.allows("api.example.com", 8443)  # no port given: only 80 and 443
    assert allow.allows("127.0.0.1", 8080) and not allow.allows("127.0.0.1", 8081)
    assert allow.allows("a.svc.example.org", 443) and not allow.allows("svc.example.org", 443)
    assert not allow.allows("evil-api.example.com", 443) and not allow.allows("example.com", 443)
    assert not HostAllowlist([]).allows("api.example.com", 443)
