"""The model manager: one copy per folder, shared with the chat provider, really freed on unload."""

from __future__ import annotations

import asyncio
import gc
import threading
import weakref
from pathlib import Path

import pytest

from nexus_core.models.devices import ModelLoadError
from nexus_core.models.manager import ModelManager
from nexus_core.providers.local import LocalTransformersProvider
from nexus_core.providers.types import ChatMessage, ChatRequest, Finish
from tests.support.tiny_models import build_tiny_llama

pytest.importorskip("torch")
pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def chat_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("manager") / "tiny-chat")


def test_a_folder_is_loaded_once_however_it_is_spelled(chat_model: Path) -> None:
    manager = ModelManager()
    changes: list[None] = []
    manager.changed.connect(changes.append)
    first = manager.load(chat_model)
    again = manager.load(chat_model.parent / ".." / chat_model.parent.name / chat_model.name)
    assert again is first and manager.loaded() == [first] and len(changes) == 1
    assert manager.get(chat_model) is first


def test_concurrent_loads_share_one_load(chat_model: Path) -> None:
    manager = ModelManager()
    results: list[object] = []
    threads = [threading.Thread(target=lambda: results.append(manager.load(chat_model))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 3 and all(r is results[0] for r in results)


def test_unload_tells_holders_and_frees_the_model(chat_model: Path) -> None:
    manager = ModelManager()
    released: list[str] = []
    loaded = manager.load(chat_model, on_release=lambda: released.append("holder"))
    model_ref = weakref.ref(loaded.model)
    del loaded
    assert manager.unload(chat_model) is True
    gc.collect()
    assert released == ["holder"] and model_ref() is None and manager.loaded() == []
    assert manager.unload(chat_model) is False


def test_a_failed_load_leaves_nothing_behind_and_can_be_retried(tmp_path: Path, chat_model: Path) -> None:
    manager = ModelManager()
    with pytest.raises(ModelLoadError):
        manager.load(chat_model, memory_budget=10)
    assert manager.loaded() == []
    assert manager.load(chat_model).model is not None


def ask(provider: LocalTransformersProvider) -> list[object]:
    async def run() -> list[object]:
        request = ChatRequest(model=provider.model_id, messages=[ChatMessage(role="user", content="hi")],
                              max_tokens=2)
        return [event async for event in provider.stream(request)]

    return asyncio.run(run())


def test_the_chat_provider_uses_the_panel_loaded_model_and_lets_go_on_unload(chat_model: Path) -> None:
    manager = ModelManager()
    loaded = manager.load(chat_model)
    provider = LocalTransformersProvider("local", chat_model, models=manager)
    try:
        assert isinstance(ask(provider)[-1], Finish)
        worker = provider._worker
        assert worker is not None and worker.model is loaded.model  # the same copy, not a second one
        model_ref = weakref.ref(loaded.model)
        del loaded
        manager.unload(chat_model)
        done = threading.Event()
        worker.submit(done.set)  # the release job runs before this one
        assert done.wait(10)
        gc.collect()
        assert model_ref() is None
        assert isinstance(ask(provider)[-1], Finish)  # the next question loads it again
        assert manager.get(chat_model) is not None
    finally:
        asyncio.run(provider.aclose())
