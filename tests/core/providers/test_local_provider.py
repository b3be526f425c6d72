"""The local transformers provider, run for real on a tiny random Llama built offline."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest

from nexus_core.models.devices import ModelLoadError, resolve_device, resolve_dtype_name
from nexus_core.providers.base import ModelInfo
from nexus_core.providers.errors import FailureKind, ProviderError
from nexus_core.providers.local import (
    LocalTransformersProvider,
    ToolCallParser,
    _TokenStreamer,
    check_model_folder,
    scan_stops,
    to_hf_messages,
)
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
from tests.support.tiny_models import build_tiny_llama, corrupt_weights

pytestmark = pytest.mark.skipif(find_spec("torch") is None or find_spec("transformers") is None,
                                reason="needs the ML extras (torch, transformers)")

REPO_ROOT = Path(__file__).resolve().parents[3]


# ---- helpers ----------------------------------------------------------------------------------------


def chat(text: str = "hello world", **kwargs: Any) -> ChatRequest:
    return ChatRequest(model="tiny", messages=[ChatMessage(role="user", content=text)], **kwargs)


async def _collect(provider: LocalTransformersProvider, request: ChatRequest) -> list[StreamEvent]:
    return [event async for event in provider.stream(request)]


def collect(provider: LocalTransformersProvider, request: ChatRequest) -> list[StreamEvent]:
    return asyncio.run(asyncio.wait_for(_collect(provider, request), 60))


def text_of(events: list[StreamEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def result_of(events: list[StreamEvent]) -> ChatResult:
    result = ChatResult()
    for event in events:
        result.add(event)
    return result


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("models") / "tiny-llama")


@pytest.fixture(scope="module")
def provider(tiny_folder: Path) -> Iterator[LocalTransformersProvider]:
    provider = LocalTransformersProvider("local-test", tiny_folder, max_new_tokens=8)
    yield provider
    asyncio.run(provider.aclose())


@pytest.fixture
def slow_forward(provider: LocalTransformersProvider) -> Iterator[list[int]]:
    """Make each forward pass of the loaded model take 20 ms, so a long answer takes seconds; yields a call count."""
    collect(provider, chat(max_tokens=1))  # load
    worker = provider._worker
    assert worker is not None
    calls: list[int] = []

    def hook(module: Any, args: Any) -> None:
        calls.append(1)
        time.sleep(0.02)

    handle = worker.model.register_forward_pre_hook(hook)
    yield calls
    handle.remove()


# ---- streaming ----------------------------------------------------------------------------------------


def test_streams_text_deltas_then_usage_then_exactly_one_finish(provider: LocalTransformersProvider,
                                                                tiny_folder: Path) -> None:
    events = collect(provider, chat(max_tokens=12))
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert len(deltas) >= 2
    assert all(d.text for d in deltas)
    assert isinstance(events[-2], Usage)
    assert isinstance(events[-1], Finish)
    assert sum(isinstance(e, Finish) for e in events) == 1
    assert events[-1].response_model == tiny_folder.name == provider.model_id
    assert events[-2].input_tokens and events[-2].input_tokens > 5


def test_running_to_the_limit_counts_every_token_and_finishes_with_length(provider: LocalTransformersProvider) -> None:
    result = result_of(collect(provider, chat(max_tokens=10)))
    assert result.output_tokens == 10
    assert result.finish_reason == "length"
    # without max_tokens the provider's own max_new_tokens (8) applies
    result = result_of(collect(provider, chat()))
    assert (result.output_tokens, result.finish_reason) == (8, "length")


def test_greedy_output_is_deterministic_and_equals_a_plain_generate_decode(provider: LocalTransformersProvider,
                                                                          tiny_folder: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    first = collect(provider, chat("tell me a story", max_tokens=16))
    second = collect(provider, chat("tell me a story", max_tokens=16, temperature=0))
    assert text_of(first) == text_of(second) != ""

    tokenizer = AutoTokenizer.from_pretrained(tiny_folder)
    model = AutoModelForCausalLM.from_pretrained(tiny_folder, dtype=torch.float32)
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "tell me a story"}],
                                           add_generation_prompt=True, return_dict=True, return_tensors="pt")
    end_ids = [tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|im_end|>")]
    output = model.generate(**prompt, max_new_tokens=16, do_sample=False, eos_token_id=end_ids,
                            pad_token_id=tokenizer.pad_token_id)
    generated = output[0, prompt["input_ids"].shape[1]:]
    assert text_of(first) == tokenizer.decode(generated, skip_special_tokens=True)
    assert result_of(first).input_tokens == prompt["input_ids"].shape[1]
    assert result_of(first).output_tokens == len(generated)


def test_sampling_with_a_temperature_runs(provider: LocalTransformersProvider) -> None:
    result = result_of(collect(provider, chat(max_tokens=6, temperature=0.8)))
    assert result.output_tokens == 6
    assert result.finish_reason == "length"


def test_a_stop_string_ends_the_answer_before_it(provider: LocalTransformersProvider) -> None:
    full = text_of(collect(provider, chat("what is the weather", max_tokens=24)))
    # a short run of letters from the middle of the greedy answer serves as the stop string
    start = next(i for i in range(2, len(full) - 1) if full[i:i + 2].isascii() and full[i:i + 2].isalpha())
    stop = full[start:start + 2]
    events = collect(provider, chat("what is the weather", max_tokens=24, stop=["NEVER-SEEN", stop]))
    result = result_of(events)
    assert result.text == full[:full.index(stop)]
    assert stop not in result.text
    assert result.finish_reason == "stop"
    assert result.output_tokens is not None and result.output_tokens < 24


def test_the_streamer_holds_back_half_characters_and_emits_exactly_the_decode(tiny_folder: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_folder)
    text = "café 日本語 😀 done"
    ids = tokenizer.encode(text, add_special_tokens=False)
    pieces: list[str] = []
    streamer = _TokenStreamer(tokenizer, [], pieces.append)
    streamer.put([0, 1, 2])  # the prompt comes first and is skipped
    for token in ids:
        streamer.put([token])
    streamer.end()
    assert "".join(pieces) == text
    assert not any("\ufffd" in piece for piece in pieces)
    assert streamer.token_count == len(ids)
    assert len(ids) > len(pieces) > 1  # some tokens were only halves of a character


@pytest.mark.parametrize("special", [False, True])
def test_the_streamer_keeps_tool_call_markers_even_when_they_are_special_tokens(special: bool) -> None:
    from tests.support.tiny_models import build_tokenizer

    tokenizer: Any = build_tokenizer(special_tool_tokens=special)
    text = 'ok <tool_call>{"name": "f", "arguments": {}}</tool_call>'
    ids = tokenizer.encode(text, add_special_tokens=False)
    assert (tokenizer.decode(ids, skip_special_tokens=True) == text) is not special  # what a plain decode does
    pieces: list[str] = []
    streamer = _TokenStreamer(tokenizer, [], pieces.append, keep=("<tool_call>", "</tool_call>"))
    streamer.put([0])
    for token in ids:
        streamer.put([token])
    streamer.end()
    assert "".join(pieces) == text


def test_scan_stops_holds_back_a_possible_start_of_a_stop_string() -> None:
    assert scan_stops("hello wor", ["world"]) == (6, False)
    assert scan_stops("hello world!", ["world"]) == (6, True)
    assert scan_stops("hello", []) == (5, False)
    assert scan_stops("abcSTOP", ["xyz", "STOP", "cS"]) == (2, True)


# ---- cancellation and the thread ------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["cancel-task", "aclose-generator"])
def test_stopping_mid_stream_frees_the_thread_for_the_next_request(provider: LocalTransformersProvider,
                                                                   slow_forward: list[int], how: str) -> None:
    async def scenario() -> tuple[float, list[StreamEvent]]:
        long = chat("tell me a story", max_tokens=200)  # 200 x 20 ms = 4 s if it were not stopped
        if how == "cancel-task":
            first = asyncio.Event()

            async def consume() -> None:
                async for event in provider.stream(long):
                    if isinstance(event, TextDelta):
                        first.set()

            task = asyncio.create_task(consume())
            await asyncio.wait_for(first.wait(), 20)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        else:
            stream = provider.stream(long)
            assert isinstance(stream, AsyncIterator)
            while not isinstance(await anext(stream), TextDelta):
                pass
            await stream.aclose()
        started = time.monotonic()
        events = await _collect(provider, chat(max_tokens=3))
        return time.monotonic() - started, events

    elapsed, events = asyncio.run(scenario())
    assert result_of(events).output_tokens == 3
    assert elapsed < 2.0, f"the next request waited {elapsed:.1f} s for the stopped one"
    assert len(slow_forward) < 60


def test_a_generation_error_is_a_provider_error_and_the_thread_survives(provider: LocalTransformersProvider) -> None:
    collect(provider, chat(max_tokens=1))
    worker = provider._worker
    assert worker is not None

    def broken(**kwargs: Any) -> Any:
        raise RuntimeError("CUDA error: device-side assert triggered")

    worker.model.generate = broken
    try:
        with pytest.raises(ProviderError) as caught:
            collect(provider, chat(max_tokens=2))
    finally:
        del worker.model.generate
    assert caught.value.kind is FailureKind.SERVER
    assert "device-side assert" in str(caught.value)
    assert result_of(collect(provider, chat(max_tokens=2))).output_tokens == 2


def test_aclose_stops_the_thread_fails_the_answer_in_flight_and_the_provider_can_start_again(
        tiny_folder: Path) -> None:
    provider = LocalTransformersProvider("closing", tiny_folder)

    async def scenario() -> None:
        assert result_of(await _collect(provider, chat(max_tokens=2))).output_tokens == 2
        worker = provider._worker
        assert worker is not None and provider.device == "cpu"
        worker.model.register_forward_pre_hook(lambda module, args: time.sleep(0.02))
        stream = provider.stream(chat(max_tokens=200))
        while not isinstance(await anext(stream), TextDelta):
            pass
        await provider.aclose()
        assert worker.stopped.done() and worker.model is None and provider.device is None
        with pytest.raises(ProviderError) as caught:
            async for _ in stream:
                pass
        assert caught.value.kind is FailureKind.STREAM_CUT
        assert result_of(await _collect(provider, chat(max_tokens=2))).output_tokens == 2
        await provider.aclose()

    asyncio.run(asyncio.wait_for(scenario(), 60))


# ---- tools --------------------------------------------------------------------------------------------


def _parse_in_pieces(text: str, size: int) -> list[TextDelta | ToolCallDelta]:
    parser = ToolCallParser()
    events: list[TextDelta | ToolCallDelta] = []
    for i in range(0, len(text), size):
        events.extend(parser.feed(text[i:i + size]))
    events.extend(parser.flush())
    return events


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 11, 1000])
def test_the_tool_call_parser_finds_calls_however_the_text_is_split(size: int) -> None:
    text = ('Let me check.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}\n'
            '</tool_call>\n<tool_call>{"name": "read_file", "arguments": "{\\"path\\": \\"a<b.txt\\"}"}</tool_call>\n')
    events = _parse_in_pieces(text, size)
    result = result_of(events)
    assert result.text == "Let me check.\n"
    assert [(c.id, c.name, json.loads(c.arguments)) for c in result.tool_calls] == [
        ("call_0", "get_weather", {"city": "Paris", "days": 2}), ("call_1", "read_file", {"path": "a<b.txt"})]
    assert [e.index for e in events if isinstance(e, ToolCallDelta)] == [0, 1]


@pytest.mark.parametrize("size", [1, 4, 1000])
def test_the_tool_call_parser_gives_back_what_is_not_a_call(size: int) -> None:
    assert result_of(_parse_in_pieces("a <toolbox> and <tool_ here", size)).text == "a <toolbox> and <tool_ here"
    bad = "x <tool_call>{not json}</tool_call> y"
    assert result_of(_parse_in_pieces(bad, size)).text == bad
    unclosed = 'x <tool_call>{"name": "f", "arguments": {}'
    result = result_of(_parse_in_pieces(unclosed, size))
    assert (result.text, result.tool_calls) == (unclosed, [])
    after = result_of(_parse_in_pieces('<tool_call>{"name": "f"}</tool_call>\n\nDone.', size))
    assert (after.text, after.tool_calls[0].arguments) == ("\n\nDone.", "{}")


def test_the_parser_holds_a_possible_tool_call_start_until_it_is_resolved() -> None:
    parser = ToolCallParser()
    assert parser.feed("Sure <tool") == [TextDelta("Sure ")]
    assert parser.feed("_c") == []
    assert parser.feed("all>{\"name\": \"f\", \"arguments\": {\"a\": 1}}</tool_") == []
    assert parser.feed("call>") == [ToolCallDelta(index=0, id="call_0", name="f", arguments='{"a": 1}')]
    assert parser.flush() == []


def test_messages_become_chat_template_dicts_with_dict_tool_arguments() -> None:
    messages = [
        ChatMessage(role="system", content="be brief"),
        ChatMessage(role="user", content="weather?"),
        ChatMessage(role="assistant", content="", tool_calls=[ToolCall("call_0", "get_weather", '{"city": "Oslo"}')]),
        ChatMessage(role="tool", content="sunny", tool_call_id="call_0", name="get_weather"),
    ]
    assert to_hf_messages(messages) == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "call_0", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}]},
        {"role": "tool", "content": "sunny", "tool_call_id": "call_0", "name": "get_weather"},
    ]


def test_a_request_with_tools_and_tool_history_renders_and_answers(provider: LocalTransformersProvider) -> None:
    request = ChatRequest(model="tiny", max_tokens=4, tools=[
        ToolSpec("get_weather", "Weather for a city", {"type": "object", "properties": {"city": {"type": "string"}}})],
        messages=[ChatMessage(role="user", content="weather in Oslo?"),
                  ChatMessage(role="assistant", tool_calls=[ToolCall("call_0", "get_weather", '{"city": "Oslo"}')]),
                  ChatMessage(role="tool", content="sunny", tool_call_id="call_0", name="get_weather")])
    plain = result_of(collect(provider, ChatRequest(model="tiny", max_tokens=4, messages=request.messages)))
    result = result_of(collect(provider, request))
    assert result.finish_reason in ("length", "stop", "tool_calls")
    assert result.input_tokens and plain.input_tokens and result.input_tokens > plain.input_tokens  # tools rendered


def test_a_conversation_longer_than_the_context_is_a_bad_request(provider: LocalTransformersProvider) -> None:
    with pytest.raises(ProviderError) as caught:
        collect(provider, chat("hello world " * 200, max_tokens=2))
    assert caught.value.kind is FailureKind.BAD_REQUEST
    assert "reads at most 256" in caught.value.what
    assert result_of(collect(provider, chat(max_tokens=2))).output_tokens == 2


# ---- folders, models, devices ---------------------------------------------------------------------------


def test_list_models_names_the_folder_and_its_context_length(provider: LocalTransformersProvider,
                                                            tiny_folder: Path) -> None:
    models = asyncio.run(provider.list_models())
    assert models == [ModelInfo(id="tiny-llama", provider="local-test", context_length=256)]
    assert provider.model_id == tiny_folder.name


def _folder_case(case: str, root: Path, tiny: Path) -> Path:
    folder = root / f"model-{case}"
    if case == "missing":
        return folder
    folder.mkdir()
    if case == "empty":
        (folder / ".cache").mkdir()  # hidden leftovers of a download do not count
        return folder
    if case == "a-file":
        folder.rmdir()
        folder.write_text("gguf?", encoding="utf-8")
        return folder
    if case == "no-config":
        shutil.copy(tiny / "model.safetensors", folder)
        return folder
    shutil.copy(tiny / "config.json", folder)
    if case == "bad-config":
        (folder / "config.json").write_text('{"model_type": "llama",', encoding="utf-8")
    if case == "missing-shard":
        index = {"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}
        (folder / "model.safetensors.index.json").write_text(json.dumps(index), encoding="utf-8")
        shutil.copy(tiny / "model.safetensors", folder / "model-00001-of-00002.safetensors")
    if case == "empty-weights":
        (folder / "model.safetensors").write_bytes(b"")
    if case == "no-tokenizer":
        shutil.copy(tiny / "model.safetensors", folder)
    return folder


@pytest.mark.parametrize(("case", "words"), [
    ("missing", "does not exist"),
    ("empty", "is empty"),
    ("a-file", "is a file"),
    ("no-config", "no config.json"),
    ("bad-config", "not valid JSON"),
    ("no-weights", "has no weights"),
    ("missing-shard", "model-00002-of-00002.safetensors"),
    ("empty-weights", "is empty (0 bytes)"),
    ("no-tokenizer", "no tokenizer files"),
])
def test_check_folder_says_what_is_wrong(tmp_path: Path, tiny_folder: Path, case: str, words: str) -> None:
    folder = _folder_case(case, tmp_path, tiny_folder)
    with pytest.raises(ProviderError) as caught:
        LocalTransformersProvider("local", folder).check_folder()
    error = caught.value
    assert error.kind is FailureKind.MODEL_FOLDER
    assert words in error.what
    assert folder.name in error.what
    assert error.hint
    assert error.provider == "local"


def test_check_folder_accepts_a_complete_folder(tiny_folder: Path) -> None:
    check_model_folder(tiny_folder)


def test_a_folder_without_a_chat_template_is_a_model_folder_error(tmp_path: Path) -> None:
    folder = build_tiny_llama(tmp_path / "base-model", chat_template=False)
    provider = LocalTransformersProvider("local", folder)
    try:
        with pytest.raises(ProviderError) as caught:
            collect(provider, chat(max_tokens=2))
    finally:
        asyncio.run(provider.aclose())
    assert caught.value.kind is FailureKind.MODEL_FOLDER
    assert "no chat template" in caught.value.what
    assert "chat_template.jinja" in caught.value.hint


def test_corrupt_weights_are_a_model_folder_error_naming_the_folder(tmp_path: Path) -> None:
    folder = build_tiny_llama(tmp_path / "broken-model")
    corrupt_weights(folder)
    provider = LocalTransformersProvider("local", folder)
    try:
        provider.check_folder()  # the file is there and not empty: only loading can tell
        with pytest.raises(ProviderError) as caught:
            collect(provider, chat(max_tokens=2))
        assert provider.device is None
    finally:
        asyncio.run(provider.aclose())
    assert caught.value.kind is FailureKind.MODEL_FOLDER
    assert "broken-model" in caught.value.what
    assert "model.safetensors is truncated" in caught.value.what
    assert "download it again" in caught.value.hint


def test_the_device_resolves_to_cpu_here_and_auto_prefers_cuda(provider: LocalTransformersProvider) -> None:
    collect(provider, chat(max_tokens=1))
    assert provider.device == "cpu"
    assert resolve_device("auto", cuda_available=True) == "cuda"
    assert resolve_device("auto", cuda_available=False) == "cpu"
    assert resolve_device("cuda:1", cuda_available=True) == "cuda:1"
    with pytest.raises(ModelLoadError) as caught:
        resolve_device("cuda", cuda_available=False)
    assert caught.value.kind == "settings"
    assert resolve_dtype_name("auto", "cuda", bf16_supported=True) == "bfloat16"
    assert resolve_dtype_name("auto", "cuda", bf16_supported=False) == "float32"
    assert resolve_dtype_name("auto", "cpu", bf16_supported=True) == "float32"
    assert resolve_dtype_name("fp16", "cuda", bf16_supported=True) == "float16"
    with pytest.raises(ModelLoadError):
        resolve_dtype_name("int3", "cpu", bf16_supported=False)


def test_a_gpu_device_on_a_machine_without_one_is_a_settings_problem(tiny_folder: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    provider = LocalTransformersProvider("gpu-only", tiny_folder, device="cuda")
    with pytest.raises(ProviderError) as caught:
        collect(provider, chat(max_tokens=1))
    assert caught.value.kind is FailureKind.NOT_CONFIGURED
    assert "no CUDA GPU" in caught.value.what


def test_importing_the_module_does_not_import_torch() -> None:
    script = ("import sys, nexus_core.providers.local\n"
              "assert 'torch' not in sys.modules and 'transformers' not in sys.modules, 'heavy import'\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
