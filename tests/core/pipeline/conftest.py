"""The chat-pipeline tests use the providers' fixtures: a real core and a scripted OpenAI-compatible server."""

from tests.core.providers.conftest import core, server  # noqa: F401 - re-exported fixtures
