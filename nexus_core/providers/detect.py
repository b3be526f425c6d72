"""Find LLM servers already running on this machine (Ollama, LM Studio, llama.cpp, vLLM) and their models."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from nexus_core.providers.presets import LOCAL_SERVER_PRESETS, Preset

PROBE_TIMEOUT_S = 0.6


@dataclass
class DetectedServer:
    preset: Preset
    base_url: str
    models: list[str] = field(default_factory=list)
    note: str = ""  # e.g. "answered, but lists no models"


async def detect_local_servers(*, host: str = "127.0.0.1", ports: dict[str, int] | None = None,
                               timeout_s: float = PROBE_TIMEOUT_S) -> list[DetectedServer]:
    """Probe each known server's default port at once; returns only those that answered like an LLM server.

    ``ports`` maps preset id → port, to probe other ports (tests, or servers moved off their default).
    """
    import httpx

    presets = [(p, (ports or {}).get(p.id, p.local_port)) for p in LOCAL_SERVER_PRESETS]
    timeout = httpx.Timeout(timeout_s, connect=timeout_s)
    async with httpx.AsyncClient(timeout=timeout, trust_env=False) as client:
        found = await asyncio.gather(*(_probe(client, preset, host, port) for preset, port in presets if port))
    return [server for server in found if server is not None]


async def _probe(client: Any, preset: Preset, host: str, port: int) -> DetectedServer | None:
    import httpx

    base_url = f"http://{host}:{port}/v1"
    models: list[str] | None = None
    try:
        response = await client.get(f"{base_url}/models")
        if response.status_code == 200:
            models = _ids(response.json())
    except (httpx.HTTPError, ValueError):
        models = None
    if preset.id == "ollama":  # older Ollama builds lack /v1/models; /api/tags always lists local models
        try:
            response = await client.get(f"http://{host}:{port}/api/tags")
            if response.status_code == 200:
                tags = [m.get("name") or m.get("model") for m in response.json().get("models", [])]
                models = sorted({*(models or []), *(t for t in tags if isinstance(t, str))})
        except (httpx.HTTPError, ValueError, AttributeError):
            pass
    if models is None:
        return None
    return DetectedServer(preset, base_url, models, "" if models else "answered, but has no model loaded")


def config_for_detected(server: DetectedServer) -> Any:
    """The provider a found server is saved as: named after its preset, with the models it listed."""
    from nexus_core.providers.config import ProviderConfig

    return ProviderConfig.model_validate({"name": server.preset.id, "kind": server.preset.kind,
                                          "preset": server.preset.id, "base_url": server.base_url,
                                          "models": list(server.models)})


def _ids(payload: Any) -> list[str] | None:
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, list):
        return None
    return sorted(str(item["id"]) for item in data if isinstance(item, dict) and item.get("id"))
