"""Known provider kinds and endpoints, so adding one is picking a name rather than typing a URL."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    id: str
    label: str
    kind: str  # "openai" (OpenAI-compatible), "anthropic", "local"
    base_url: str
    needs_key: bool
    key_env: str = ""  # the environment variable people usually keep this key in
    local_port: int | None = None  # loopback port probed by detection


PRESETS: dict[str, Preset] = {p.id: p for p in (
    Preset("ollama", "Ollama", "openai", "http://127.0.0.1:11434/v1", False, local_port=11434),
    Preset("lmstudio", "LM Studio", "openai", "http://127.0.0.1:1234/v1", False, local_port=1234),
    Preset("llamacpp", "llama.cpp server", "openai", "http://127.0.0.1:8080/v1", False, local_port=8080),
    Preset("vllm", "vLLM", "openai", "http://127.0.0.1:8000/v1", False, local_port=8000),
    Preset("openrouter", "OpenRouter", "openai", "https://openrouter.ai/api/v1", True, "OPENROUTER_API_KEY"),
    Preset("openai", "OpenAI", "openai", "https://api.openai.com/v1", True, "OPENAI_API_KEY"),
    Preset("anthropic", "Anthropic", "anthropic", "https://api.anthropic.com", True, "ANTHROPIC_API_KEY"),
    Preset("custom", "Custom OpenAI-compatible", "openai", "", False),
    Preset("local", "Local model folder", "local", "", False),
)}

LOCAL_SERVER_PRESETS = [p for p in PRESETS.values() if p.local_port is not None]
