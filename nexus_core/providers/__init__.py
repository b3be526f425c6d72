"""LLM providers (OpenAI-compatible, Anthropic, local transformers), the pool that owns them, the router.

Heavy SDKs (openai, anthropic, transformers) are imported inside the provider modules, never here.
"""

from nexus_core.providers.base import ModelInfo, Provider
from nexus_core.providers.errors import FailureKind, ProviderError
from nexus_core.providers.types import (
    ChatMessage,
    ChatRequest,
    ChatResult,
    Finish,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolSpec,
    Usage,
)

__all__ = [
    "ChatMessage",
    "ChatRequest",
    "ChatResult",
    "FailureKind",
    "Finish",
    "ModelInfo",
    "Provider",
    "ProviderError",
    "StreamEvent",
    "TextDelta",
    "ToolCall",
    "ToolCallDelta",
    "ToolSpec",
    "Usage",
]
