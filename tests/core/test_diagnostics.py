"""Diagnostics for bug reports: what they say, and that no secret from the credential store is in them."""

from __future__ import annotations

from pathlib import Path

import pytest

from nexus_core.cli import main
from nexus_core.core import Core
from nexus_core.diagnostics import clean, collect
from nexus_core.providers.config import ProviderConfig
from nexus_core.routing.table import Assignment, RoutingTable
from tests.support.memory_keyring import MemoryKeyring

KEY = "sk-diag-7f3e9c1d2b4a6e8f0a1c"


def test_the_report_names_versions_providers_and_routing_but_no_secret(nexus_home: Path) -> None:
    core = Core.open(nexus_home, keyring_backend=MemoryKeyring())
    try:
        core.providers.save(ProviderConfig(name="router", kind="openai", preset="custom",
                                           base_url="https://user:hunter2pass@llm.example/v1", models=["m1"]))
        core.providers.set_api_key("router", KEY)
        core.credentials.set("module:weather:TOKEN", "weather-secret-value-123")
        core.routing.save(RoutingTable(tiers={"standard": Assignment(model="router/m1")}))
        core.providers.get("router")  # reading the key registers it for masking, as using it does
        text = collect(core)
    finally:
        core.close()
    assert "Nexus Studio" in text and "## Providers" in text and "- router: openai" in text
    assert "key stored" in text and "tier standard: router/m1" in text and "PySide6" in text
    assert KEY not in text and "hunter2pass" not in text and "weather-secret-value-123" not in text
    assert "https://user" not in text and "https://***@llm.example/v1" in text


def test_clean_masks_credentials_in_urls_and_known_secret_shapes() -> None:
    assert clean("see http://bob:pw@host/x and sk-ant-api03-abcdefghijklmnop") == \
        "see http://***@host/x and sk-ant-***"


def test_nexus_info_diagnostics(nexus_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--data-dir", str(nexus_home), "info", "--diagnostics"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# Nexus Studio") and "## Settings" in out and "- theme: system" in out
