"""A local model folder run in-process with transformers, on the provider's own inference thread.

Why a dedicated thread: ``generate()`` is a long, blocking, GIL-releasing loop. Running it on the asyncio
loop would freeze every other stream; running it in a shared executor would let two requests fight over
one model. One daemon thread per provider loads the model once and runs jobs one at a time; tokens cross
back to the loop through ``call_soon_threadsafe``. torch and transformers are imported on that thread on
first use, so importing this module (and listing a folder's model) stays instant.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import copy
import json
import logging
import queue
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

from nexus_core.errors import NexusError
from nexus_core.memory import release_memory
from nexus_core.models.devices import ModelLoadError
from nexus_core.models.manager import ModelManager
from nexus_core.providers.base import ModelInfo
from nexus_core.providers.errors import FailureKind, ProviderError
from nexus_core.providers.types import (
    ChatMessage,
    ChatRequest,
    Finish,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    ToolSpec,
    Usage,
)

log = logging.getLogger(__name__)

TOOL_CALL_OPEN = "<tool_call>"
TOOL_CALL_CLOSE = "</tool_call>"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "vocab.txt", "spiece.model",
                   "sentencepiece.bpe.model", "tekken.json")
WEIGHT_INDEXES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")
# End-of-turn markers of common chat templates: many folders list only the end-of-text token as EOS,
# so without these the model would run on past its own turn.
END_OF_TURN_TOKENS = ("<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>")
_DOWNLOAD_HINT = ("Download the complete model again into this folder (for example `hf download <repo> "
                  "--local-dir <folder>`), or pick another folder in the provider settings.")
_CLOSE_WAIT_S = 30.0


# ---- folder checks (no torch) ----------------------------------------------------------------------


def _folder_error(folder: Path, what: str, hint: str = _DOWNLOAD_HINT, *, provider: str = "") -> ProviderError:
    return ProviderError(FailureKind.MODEL_FOLDER, what, provider=provider, model=folder.name, hint=hint)


def _provider_error(exc: ModelLoadError, provider: LocalTransformersProvider) -> ProviderError:
    """The loader's verdict in the router's terms: settings and missing libraries are configuration problems,
    memory is a (retry-later) server condition, everything else is the folder's fault."""
    kind = {"settings": FailureKind.NOT_CONFIGURED, "dependency": FailureKind.NOT_CONFIGURED,
            "consent": FailureKind.NOT_CONFIGURED, "memory": FailureKind.SERVER}.get(exc.kind, FailureKind.MODEL_FOLDER)
    what = exc.what if exc.path is None else f"{exc.what} ({exc.path})"
    return ProviderError(kind, what, provider=provider.name, model=provider.model_id, hint=exc.hint)


def check_model_folder(folder: Path, *, provider: str = "") -> None:
    """Raise ``ProviderError(MODEL_FOLDER)`` when ``folder`` cannot hold a loadable model; reads only small files.

    It runs before anything heavy so an incomplete download is reported in plain words, not as a
    transformers traceback minutes into a load.
    """
    def fail(what: str, hint: str = _DOWNLOAD_HINT) -> ProviderError:
        return _folder_error(folder, what, hint, provider=provider)

    if not folder.exists():
        raise fail(f"The model folder {folder} does not exist.",
                   "Check the folder in the provider settings, or download the model into it.")
    if not folder.is_dir():
        raise fail(f"The model path {folder} is a file, not a folder.",
                   "Choose the folder that holds config.json and the weight files.")
    entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
    if not entries:
        raise fail(f"The model folder {folder} is empty.")
    config = folder / "config.json"
    if not config.is_file():
        raise fail(f"The model folder {folder} has no config.json, so it is not a transformers model folder.",
                   "Choose the folder that holds config.json (not a parent or a GGUF file), or " + _DOWNLOAD_HINT)
    _read_json(config, fail)
    _check_weights(folder, fail)
    if not any((folder / name).is_file() for name in TOKENIZER_FILES) and not any(folder.glob("*.tiktoken")):
        raise fail(f"The model folder {folder} has no tokenizer files ({', '.join(TOKENIZER_FILES[:4])}, ...).",
                   "Copy the tokenizer files from the model's repository into the folder, or " + _DOWNLOAD_HINT)


def _read_json(path: Path, fail: Callable[[str], ProviderError]) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise fail(f"{path} cannot be read ({exc.strerror or exc}).") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise fail(f"{path} is not valid JSON ({exc}); the file is damaged or was cut off.") from exc
    if not isinstance(value, dict):
        raise fail(f"{path} is not a JSON object; the file is damaged.")
    return value


def _check_weights(folder: Path, fail: Callable[[str], ProviderError]) -> None:
    for index_name in WEIGHT_INDEXES:
        index = folder / index_name
        if not index.is_file():
            continue
        weight_map = _read_json(index, fail).get("weight_map")
        if not isinstance(weight_map, dict) or not weight_map:
            raise fail(f"{index} lists no weight files (no \"weight_map\"); the file is damaged.")
        shards = sorted({str(name) for name in weight_map.values()})
        missing = [name for name in shards if not (folder / name).is_file()]
        if missing:
            shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
            raise fail(f"The model folder {folder} is missing {len(missing)} of {len(shards)} weight files: {shown}.",
                       "The download was probably interrupted. " + _DOWNLOAD_HINT)
        _check_not_empty([folder / name for name in shards], fail)
        return
    weights = sorted([*folder.glob("*.safetensors"), *folder.glob("pytorch_model*.bin")])
    if not weights:
        raise fail(f"The model folder {folder} has no weights (no *.safetensors or pytorch_model*.bin files).")
    _check_not_empty(weights, fail)


def _check_not_empty(files: Sequence[Path], fail: Callable[[str], ProviderError]) -> None:
    for path in files:
        if path.stat().st_size == 0:
            raise fail(f"The weight file {path} is empty (0 bytes).", "The download was probably interrupted. "
                       + _DOWNLOAD_HINT)


def context_length_of(config: dict[str, Any]) -> int | None:
    """The model's context window from its config.json (multimodal configs nest it in ``text_config``)."""
    for source in (config, config.get("text_config") or {}):
        for key in ("max_position_embeddings", "n_positions", "max_seq_len", "seq_length"):
            value = source.get(key)
            if isinstance(value, int) and value > 0:
                return value
    return None


# ---- request translation -----------------------------------------------------------------------------


def to_hf_messages(messages: list[ChatMessage]) -> list[dict[str, Any]]:
    """Our messages in the dict shape chat templates expect (tool calls with dict arguments)."""
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "tool":
            out.append({"role": "tool", "content": m.content, "tool_call_id": m.tool_call_id, "name": m.name})
        elif m.role == "assistant" and m.tool_calls:
            calls = []
            for call in m.tool_calls:
                try:
                    arguments: dict[str, Any] | str = call.parsed_arguments()
                except ValueError:
                    arguments = call.arguments  # let the template show what the model actually sent
                calls.append({"id": call.id, "type": "function",
                              "function": {"name": call.name, "arguments": arguments}})
            out.append({"role": "assistant", "content": m.content, "tool_calls": calls})
        else:
            out.append({"role": m.role, "content": m.content})
    return out


def to_hf_tools(tools: list[ToolSpec]) -> list[dict[str, Any]]:
    return [{"type": "function", "function": {"name": t.name, "description": t.description,
                                              "parameters": t.parameters}} for t in tools]


def _partial_suffix(text: str, marker: str) -> int:
    """Length of the longest end of ``text`` that is a proper start of ``marker`` (it may still become one)."""
    for size in range(min(len(text), len(marker) - 1), 0, -1):
        if marker.startswith(text[-size:]):
            return size
    return 0


def scan_stops(text: str, stops: Sequence[str], start: int = 0) -> tuple[int, bool]:
    """(how much of ``text`` may be shown, whether a stop string occurs); holds back a possible stop's start."""
    stops = [s for s in stops if s]
    if not stops:
        return len(text), False
    hits = [i for s in stops if (i := text.find(s, max(0, start - len(s) + 1))) >= 0]
    if hits:
        return min(hits), True
    return len(text) - max(_partial_suffix(text, s) for s in stops), False


# ---- tool calls in the text --------------------------------------------------------------------------


class ToolCallParser:
    """Splits streamed text into plain text and Hermes/Qwen ``<tool_call>{json}</tool_call>`` blocks.

    Text that might be the start of ``<tool_call>`` is held until the next piece settles it; a block
    that is not valid JSON, or never closes, is given back as text so nothing the model said is lost.
    Whitespace between and after calls is dropped: it is template layout, not an answer.
    """

    def __init__(self, id_prefix: str = "call_") -> None:
        self.id_prefix = id_prefix
        self.calls = 0
        self._buffer = ""
        self._in_call = False
        self._pending_space = ""

    def feed(self, text: str) -> list[TextDelta | ToolCallDelta]:
        self._buffer += text
        out: list[TextDelta | ToolCallDelta] = []
        while True:
            if self._in_call:
                end = self._buffer.find(TOOL_CALL_CLOSE)
                if end < 0:
                    break
                body, self._buffer = self._buffer[:end], self._buffer[end + len(TOOL_CALL_CLOSE):]
                self._in_call = False
                out.extend(self._call(body))
            else:
                start = self._buffer.find(TOOL_CALL_OPEN)
                if start < 0:
                    keep = _partial_suffix(self._buffer, TOOL_CALL_OPEN)
                    cut = len(self._buffer) - keep
                    self._text(out, self._buffer[:cut])
                    self._buffer = self._buffer[cut:]
                    break
                self._text(out, self._buffer[:start])
                self._buffer = self._buffer[start + len(TOOL_CALL_OPEN):]
                self._in_call = True
        return out

    def flush(self) -> list[TextDelta | ToolCallDelta]:
        """End of the answer: whatever is still held is text (an unclosed block included)."""
        rest = (TOOL_CALL_OPEN + self._buffer) if self._in_call else self._buffer
        self._buffer, self._in_call = "", False
        out: list[TextDelta | ToolCallDelta] = []
        self._text(out, rest)
        return out

    def _text(self, out: list[TextDelta | ToolCallDelta], text: str) -> None:
        if not text:
            return
        if self.calls and not text.strip():
            self._pending_space += text
            return
        text, self._pending_space = self._pending_space + text, ""
        if out and isinstance(out[-1], TextDelta):
            out[-1] = TextDelta(out[-1].text + text)
        else:
            out.append(TextDelta(text))

    def _call(self, body: str) -> list[TextDelta | ToolCallDelta]:
        parsed = _parse_tool_call(body)
        if parsed is None:
            out: list[TextDelta | ToolCallDelta] = []
            self._text(out, TOOL_CALL_OPEN + body + TOOL_CALL_CLOSE)
            return out
        name, arguments = parsed
        index = self.calls
        self.calls += 1
        self._pending_space = ""
        return [ToolCallDelta(index=index, id=f"{self.id_prefix}{index}", name=name, arguments=arguments)]


def _parse_tool_call(body: str) -> tuple[str, str] | None:
    """(name, arguments JSON text) from a block's body, or None when it is not a usable call."""
    try:
        value = json.loads(body)
    except json.JSONDecodeError:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("name"), str) or not value["name"]:
        return None
    arguments = value.get("arguments", value.get("parameters", {}))
    if isinstance(arguments, str):  # some models send the arguments as a JSON string
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError:
            return None
    if not isinstance(arguments, dict):
        return None
    return value["name"], json.dumps(arguments, ensure_ascii=False)


# ---- the inference thread -----------------------------------------------------------------------------


class _Sink:
    """The inference thread's way back into the consumer's event loop; notices when the consumer is gone."""

    def __init__(self, loop: asyncio.AbstractEventLoop, inbox: asyncio.Queue[tuple[str, Any]],
                 cancel: threading.Event) -> None:
        self._loop = loop
        self._inbox = inbox
        self.cancel = cancel
        self.sent_text = False

    def send(self, kind: str, payload: Any) -> None:
        if self.cancel.is_set():
            return
        try:
            self._loop.call_soon_threadsafe(self._inbox.put_nowait, (kind, payload))
        except RuntimeError:  # the consumer's loop is closed: nobody is listening any more
            self.cancel.set()

    def text(self, text: str) -> None:
        self.sent_text = True
        self.send("text", text)


class _TokenStreamer:
    """A ``generate()`` streamer (the ``BaseStreamer`` put/end protocol) that turns token ids into text deltas.

    Decoding the accumulated ids and emitting only the new suffix keeps multi-token characters and
    tokenizers that change spacing by context correct; text ending in U+FFFD (half a UTF-8 character)
    and text that might be the start of a stop string wait for the next token.
    """

    def __init__(self, tokenizer: Any, stops: Sequence[str], emit: Callable[[str], None], *,
                 keep: Sequence[str] = ()) -> None:
        self._tokenizer = tokenizer
        self._stops = [s for s in stops if s]
        self._emit = emit
        self._keep = _special_ids(tokenizer, keep)
        self._ids: list[int] = []
        self._shown = 0  # characters of the decoded text already emitted
        self._prompt_skipped = False
        self.stopped = False  # a stop string was seen; later tokens are ignored
        self.token_count = 0  # tokens that count towards the answer

    def put(self, value: Any) -> None:
        if not self._prompt_skipped:  # generate() first hands over the prompt itself
            self._prompt_skipped = True
            return
        if self.stopped:
            return
        ids = [int(i) for i in value.reshape(-1).tolist()] if hasattr(value, "reshape") else [int(i) for i in value]
        self._ids.extend(ids)
        self.token_count += len(ids)
        self._advance(final=False)

    def end(self) -> None:
        if not self.stopped:
            self._advance(final=True)

    def _decode(self) -> str:
        if not self._keep or not self._keep.keys() & set(self._ids):
            return str(self._tokenizer.decode(self._ids, skip_special_tokens=True))
        parts: list[str] = []
        start = 0
        for i, token in enumerate(self._ids):
            if token in self._keep:
                parts += [self._tokenizer.decode(self._ids[start:i], skip_special_tokens=True), self._keep[token]]
                start = i + 1
        parts.append(self._tokenizer.decode(self._ids[start:], skip_special_tokens=True))
        return "".join(parts)

    def _advance(self, *, final: bool) -> None:
        text = self._decode()
        safe, hit = scan_stops(text, self._stops, start=self._shown)
        if hit:
            self.stopped = True
        elif not final:
            while safe > self._shown and text[safe - 1] == "\ufffd":
                safe -= 1
        if safe > self._shown:
            self._emit(text[self._shown:safe])
            self._shown = safe


def _special_ids(tokenizer: Any, tokens: Sequence[str]) -> dict[int, str]:
    """Ids of those ``tokens`` that the tokenizer marks special, which a skip-special decode would drop.

    Some tool-calling models register ``<tool_call>`` as a special token; decoding must keep it or
    their tool calls would vanish from the text before the parser sees them.
    """
    if not tokens:
        return {}
    decoder = getattr(tokenizer, "added_tokens_decoder", None) or {}
    return {int(i): str(t.content) for i, t in decoder.items() if t.content in tokens and getattr(t, "special", False)}


class _StopWhen:
    """A ``StoppingCriteria`` (duck-typed, so this module needs no transformers import) polled every token."""

    def __init__(self, *flags: Callable[[], bool]) -> None:
        self._flags = flags

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        done = any(flag() for flag in self._flags)
        return torch.full((input_ids.shape[0],), done, dtype=torch.bool, device=input_ids.device)

    def __deepcopy__(self, memo: dict[int, Any]) -> _StopWhen:  # its flags read live thread state: share it
        return self


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    if len(text) > 400:
        text = text[:400] + "..."
    return f"{type(exc).__name__}: {text}"


class _InferenceThread:
    """One daemon thread that owns the model: loads it on first use and runs one job at a time."""

    def __init__(self, provider: LocalTransformersProvider) -> None:
        self.provider = provider
        self.closing = threading.Event()
        self.stopped: concurrent.futures.Future[None] = concurrent.futures.Future()
        self.model: Any = None
        self.tokenizer: Any = None
        self.device: str | None = None
        self.context_length: int | None = None
        self.end_token_ids: list[int] = []
        self._fusion: Any = None  # the fusion bundle's encoders and projectors, once attachments come
        self._jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=f"nexus-local-{provider.name}", daemon=True)
        self._thread.start()

    def submit(self, job: Callable[[], None]) -> None:
        self._jobs.put(job)

    def close(self) -> None:
        """Stop the running generation, fail queued ones, then unload; ``stopped`` resolves when done."""
        self.closing.set()
        self._jobs.put(None)

    def _run(self) -> None:
        try:
            while (job := self._jobs.get()) is not None:
                try:
                    job()
                except BaseException:  # a job must never take the thread (and the model) down with it
                    log.exception("local model %s: job failed", self.provider.name)
        finally:
            self._unload()
            with contextlib.suppress(concurrent.futures.InvalidStateError):
                self.stopped.set_result(None)

    def _unload(self) -> None:
        """Drop this thread's references; the model manager frees the memory once every holder has let go."""
        self.model = self.tokenizer = None
        self._fusion = None  # built around the model

    def release(self) -> None:
        """Called by the model manager when the model is unloaded (from any thread): let go before the next job."""
        self.submit(self._unload)

    # -- loading --

    def ensure_loaded(self) -> None:
        if self.model is not None:
            return
        p = self.provider
        p.check_folder()
        try:
            loaded = p.models.load(p.folder, device=p.requested_device, dtype=p.requested_dtype,
                                   on_release=self.release)
        except ModelLoadError as exc:
            raise _provider_error(exc, p) from exc
        except Exception as exc:  # transformers raises many types for folders it cannot read
            raise self._load_error("model", exc) from exc
        if loaded.tokenizer is None:
            raise _folder_error(p.folder, f"Could not load the tokenizer in the model folder {p.folder} "
                                f"({'; '.join(loaded.notes) or 'no tokenizer files'}).", provider=p.name)
        if not getattr(loaded.tokenizer, "chat_template", None):
            raise _folder_error(p.folder, f"The model folder {p.folder} has no chat template, so a conversation "
                                "cannot be turned into a prompt for it (is it a base model rather than an "
                                "instruct/chat one?).",
                                "Use the model's instruct/chat version, or add a \"chat_template\" entry to "
                                "tokenizer_config.json or a chat_template.jinja file to the folder.", provider=p.name)
        if not hasattr(loaded.model, "generate"):
            raise _folder_error(p.folder, f"The model in {p.folder} loaded as {loaded.strategy}, which cannot "
                                "generate text.", "Pick a causal language model (an instruct/chat model) for chat.",
                                provider=p.name)
        self.model, self.tokenizer, self.device = loaded.model, loaded.tokenizer, loaded.device
        p._device = loaded.device
        self.context_length = context_length_of(loaded.model.config.to_dict())
        self.end_token_ids = self._end_tokens(loaded.model, loaded.tokenizer)

    def _load_error(self, what: str, exc: BaseException) -> ProviderError:
        p = self.provider
        return _folder_error(p.folder, f"Could not load the {what} in the model folder {p.folder} ({_reason(exc)}).",
                             "The folder may be incomplete or damaged (an interrupted download?), or hold a model "
                             "this transformers version cannot run. " + _DOWNLOAD_HINT, provider=p.name)

    @staticmethod
    def _end_tokens(model: Any, tokenizer: Any) -> list[int]:
        ids: list[int] = []
        configured = model.generation_config.eos_token_id
        for value in [*(configured if isinstance(configured, list) else [configured]), tokenizer.eos_token_id]:
            if isinstance(value, int) and value not in ids:
                ids.append(value)
        template = tokenizer.chat_template if isinstance(tokenizer.chat_template, str) else str(tokenizer.chat_template)
        vocab = tokenizer.get_vocab()
        for token in END_OF_TURN_TOKENS:
            if token in template and token in vocab and vocab[token] not in ids:
                ids.append(vocab[token])
        return ids

    # -- generating --

    def generate(self, request: ChatRequest, sink: _Sink) -> None:
        """A job: answer ``request`` into ``sink``; every failure reaches the consumer as a ProviderError."""
        p = self.provider
        if sink.cancel.is_set():
            return
        try:
            if self.closing.is_set():
                raise ProviderError(FailureKind.CONNECTION, f"The local model {p.model_id} was closed before it "
                                    "could answer.", provider=p.name, model=p.model_id, hint="Send the message again.")
            self.ensure_loaded()
            usage = self._generate(request, sink)
        except ProviderError as exc:
            sink.send("error", exc)
        except Exception as exc:
            sink.send("error", self._generation_error(exc))
        else:
            if usage is not None:
                sink.send("done", usage)

    def _generate(self, request: ChatRequest, sink: _Sink) -> tuple[int, int, str] | None:
        import torch
        from transformers import StoppingCriteriaList

        p, tokenizer, model = self.provider, self.tokenizer, self.model
        tools = to_hf_tools(request.tools) or None
        attachments = [Path(a) for m in request.messages for a in m.attachments]
        fused = self._fused() if attachments else None
        messages = to_hf_messages(request.messages)
        if fused is not None:  # each attachment's placeholder at the start of its message's text
            for hf, message in zip(messages, request.messages, strict=True):
                if message.attachments:
                    hf["content"] = fused.placeholders([Path(a) for a in message.attachments]) + "\n" + hf["content"]
        try:
            if fused is None:
                encoded = tokenizer.apply_chat_template(messages, tools=tools, add_generation_prompt=True,
                                                        tokenize=True, return_dict=True, return_tensors="pt",
                                                        sanitize_control_tokens=True)
            else:  # the text, which the bridge tokenizes around the placeholders
                encoded = tokenizer.apply_chat_template(messages, tools=tools, add_generation_prompt=True,
                                                        tokenize=False)
        except Exception as exc:
            raise ProviderError(FailureKind.BAD_REQUEST, f"The chat template of {p.model_id} rejected this "
                                f"conversation ({_reason(exc)}).", provider=p.name, model=p.model_id,
                                hint="Some models accept only alternating user/assistant turns or no system "
                                "message; adjust the conversation or use another model.") from exc
        if fused is not None:  # the prompt as embeddings, with the attachments' tokens at their placeholders
            try:
                built = fused.inputs(tokenizer, str(encoded), attachments)
            except NexusError as exc:
                raise ProviderError(FailureKind.BAD_REQUEST, exc.what, provider=p.name, model=p.model_id,
                                    hint=exc.hint) from exc
            inputs: dict[str, Any] = {"inputs_embeds": built["inputs_embeds"],
                                      "attention_mask": built["attention_mask"]}
            prompt_len = int(built["inputs_embeds"].shape[1])
        else:
            inputs = {"input_ids": encoded["input_ids"].to(model.device)}
            if "attention_mask" in encoded:
                inputs["attention_mask"] = encoded["attention_mask"].to(model.device)
            prompt_len = int(inputs["input_ids"].shape[1])
        budget = request.max_tokens if request.max_tokens and request.max_tokens > 0 else p.max_new_tokens
        if self.context_length is not None:
            if prompt_len >= self.context_length:
                raise ProviderError(FailureKind.BAD_REQUEST, f"The conversation is {prompt_len} tokens long, but "
                                    f"{p.model_id} reads at most {self.context_length}.", provider=p.name,
                                    model=p.model_id, hint="Start a new chat or shorten the messages.")
            budget = min(budget, self.context_length - prompt_len)

        config = copy.deepcopy(model.generation_config)
        config.max_new_tokens = budget
        config.max_length = None
        config.eos_token_id = self.end_token_ids or None
        if config.pad_token_id is None:
            config.pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (
                self.end_token_ids[0] if self.end_token_ids else None)
        if request.temperature:
            config.do_sample = True
            config.temperature = float(request.temperature)
        else:  # greedy; clear sampling knobs so generate() does not warn that they are ignored
            config.do_sample = False
            for knob in ("temperature", "top_p", "top_k", "min_p", "typical_p", "top_h", "epsilon_cutoff",
                         "eta_cutoff"):
                if hasattr(config, knob):
                    setattr(config, knob, None)

        streamer = _TokenStreamer(tokenizer, request.stop, sink.text,
                                  keep=(TOOL_CALL_OPEN, TOOL_CALL_CLOSE) if request.tools else ())
        stop = _StopWhen(sink.cancel.is_set, self.closing.is_set, lambda: streamer.stopped)
        with torch.inference_mode():
            output = model.generate(**inputs, generation_config=config, streamer=streamer,
                                    stopping_criteria=StoppingCriteriaList([stop]))
        if sink.cancel.is_set():
            return None
        if self.closing.is_set() and not streamer.stopped:
            raise ProviderError(FailureKind.STREAM_CUT if sink.sent_text else FailureKind.CONNECTION,
                                f"The local model {p.model_id} was closed in the middle of an answer.",
                                provider=p.name, model=p.model_id, hint="Send the message again.")
        # (given embeddings, generate() returns only the new tokens)
        generated = output[0, 0 if fused is not None else prompt_len:].tolist()
        if streamer.stopped:
            return prompt_len, streamer.token_count, "stop"
        ended_on_eos = bool(generated) and generated[-1] in self.end_token_ids
        reason = "length" if len(generated) >= budget and not ended_on_eos else "stop"
        return prompt_len, len(generated), reason

    def _fused(self) -> Any:
        """The fusion bundle's encoders and projectors for this model (loaded once); ProviderError when the model
        has none, saying how to get one."""
        p = self.provider
        if p.fusion_bundle is None:
            raise ProviderError(FailureKind.BAD_REQUEST, f"{p.model_id} reads text only: it has no fusion bundle for "
                                "pictures, sound or video.", provider=p.name, model=p.model_id,
                                hint=f"Train one (nexus fuse train --llm {p.folder} --vision ENCODER --data PAIRS "
                                "--out BUNDLE) and set it as this provider's fusion bundle, or send attachments "
                                "to a provider whose model takes them.")
        if self._fusion is None:
            from nexus_core.multimodal.chat import FusedInputs

            try:
                self._fusion = FusedInputs.load(p.fusion_bundle, self.model, p.folder)
            except NexusError as exc:
                raise ProviderError(FailureKind.BAD_REQUEST, exc.what, provider=p.name, model=p.model_id,
                                    hint=exc.hint) from exc
        return self._fusion

    def _generation_error(self, exc: BaseException) -> ProviderError:
        p = self.provider
        try:
            import torch

            oom = isinstance(exc, torch.cuda.OutOfMemoryError)
        except ImportError:
            oom = False
        if oom:
            release_memory()
            return ProviderError(FailureKind.SERVER, f"The local model {p.model_id} ran out of GPU memory while "
                                 "answering.", provider=p.name, model=p.model_id,
                                 hint="Lower the maximum answer length, start a new chat, close other programs "
                                 "using the GPU, or pick a smaller model.")
        if isinstance(exc, IndexError):  # token ids beyond the embedding table: tokenizer and weights disagree
            return _folder_error(p.folder, f"The tokenizer and the weights in {p.folder} do not match "
                                 f"({_reason(exc)}).", provider=p.name)
        log.exception("local model %s: generation failed", p.model_id, exc_info=exc)
        return ProviderError(FailureKind.SERVER, f"The local model {p.model_id} failed while answering "
                             f"({_reason(exc)}).", provider=p.name, model=p.model_id,
                             hint="Try again; if it keeps failing, see the log for details.")


# ---- the provider -------------------------------------------------------------------------------------


class LocalTransformersProvider:
    """A transformers model folder answering in-process; see the module docstring for the threading."""

    kind = "local"

    def __init__(self, name: str, folder: Path | str, *, device: str = "auto", dtype: str = "auto",
                 max_new_tokens: int = 512, models: ModelManager | None = None,
                 fusion_bundle: Path | str | None = None) -> None:
        self.name = name
        self.fusion_bundle = Path(fusion_bundle).expanduser() if fusion_bundle else None
        self.models = models if models is not None else ModelManager()
        self.folder = Path(folder).expanduser()
        self.requested_device = device
        self.requested_dtype = dtype
        self.max_new_tokens = max_new_tokens
        self._device: str | None = None
        self._worker: _InferenceThread | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"LocalTransformersProvider(name={self.name!r}, folder={str(self.folder)!r})"

    @property
    def model_id(self) -> str:
        return self.folder.name

    @property
    def device(self) -> str | None:
        """Where the model runs, once loaded (``auto`` resolved); None before the first request."""
        return self._device

    def check_folder(self) -> None:
        """Fast sanity check of the folder (no torch); raises ``ProviderError(MODEL_FOLDER)`` saying what to fix."""
        check_model_folder(self.folder, provider=self.name)

    def _thread(self) -> _InferenceThread:
        with self._lock:
            if self._worker is None:
                self._worker = _InferenceThread(self)
            return self._worker

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        inbox: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        cancel = threading.Event()
        sink = _Sink(asyncio.get_running_loop(), inbox, cancel)
        worker = self._thread()
        worker.submit(lambda: worker.generate(request, sink))
        # ids unique per answer: a history holding two different "call_0"s confuses some templates and APIs
        parser = ToolCallParser(id_prefix=f"call_{uuid.uuid4().hex[:8]}_") if request.tools else None
        try:
            while True:
                kind, payload = await inbox.get()
                if kind == "text":
                    for event in parser.feed(payload) if parser else [TextDelta(payload)]:
                        yield event
                elif kind == "error":
                    raise payload
                else:
                    for event in parser.flush() if parser else []:
                        yield event
                    input_tokens, output_tokens, reason = payload
                    if parser is not None and parser.calls:
                        reason = "tool_calls"
                    yield Usage(input_tokens=input_tokens, output_tokens=output_tokens)
                    yield Finish(reason=reason, response_model=self.model_id)
                    return
        finally:
            cancel.set()  # consumer cancelled or closed the stream: generation stops at the next token

    async def list_models(self) -> list[ModelInfo]:
        self.check_folder()
        try:
            config = json.loads((self.folder / "config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            config = {}
        return [ModelInfo(id=self.model_id, provider=self.name,
                          context_length=context_length_of(config) if isinstance(config, dict) else None)]

    async def aclose(self) -> None:
        with self._lock:
            worker, self._worker = self._worker, None
        if worker is None:
            return
        worker.close()
        try:
            await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(worker.stopped)), _CLOSE_WAIT_S)
        except TimeoutError:
            log.warning("local model %s: the inference thread did not stop within %.0f s", self.model_id,
                        _CLOSE_WAIT_S)
        self._device = None
