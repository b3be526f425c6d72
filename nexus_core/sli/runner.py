"""Layer-major streaming: run a model far larger than memory over a data set, reading each weight once.

A pass embeds every sample once into an activation cache on disk; then, for each layer, the layer's
weights are read (the next layer's on a thread meanwhile), all cached activations go through it in
batches into the other cache file, and the layer is freed. After the last layer the model's tail (final
norm) gives ``hidden_last`` and, with ``top_k``, the output head gives the teacher's top-k logits.

The arguments a layer needs (masks, rotary or ALiBi terms, …) are captured from the model's own forward:
the layer list is swapped for that one layer, whose pre-hook records its inputs and stops the pass. So
each family needs only where its layers are, not a re-implementation of its forward.

A stopped pass resumes at the layer it was in: ``.sli_state.json`` moves on only after a layer's output
is flushed. Outputs go to ``outputs.safetensors.partial`` and are renamed when complete.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from nexus_core.atomic import atomic_write_text
from nexus_core.errors import NexusError
from nexus_core.sli.families import BIAS_TABLE, Family, detect_family, resolve
from nexus_core.sli.heap import give_back_free_memory, keep_heap_compact
from nexus_core.sli.tensor_file import SafetensorsWriter, working_array
from nexus_core.sli.weights import WeightStore, assign, release, slot_dtypes

STATE_FILE = ".sli_state.json"
FORMAT = "nexus-sli-state"
VERSION = 1
OUTPUTS = "outputs.safetensors"
ENCODER_CACHE = "encoder-out.bin"


class SliError(NexusError):
    """The pass cannot start or go on; the message names the file or setting."""


class _Captured(Exception):  # noqa: N818 - control flow: the layer's inputs were recorded
    def __init__(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        super().__init__("captured")
        self.args, self.kwargs = args, kwargs


@dataclass
class SliPlan:
    family: str
    layers: int
    layer_bytes: list[int]
    resident_bytes: int
    head_bytes: int
    weight_bytes: int
    largest_layer: int
    minimum_budget: int
    budget: int
    prefetch: bool
    disk_bytes_per_s: float | None = None

    def expected_seconds(self) -> float | None:
        """Reading every weight once at the measured disk speed (the floor of a pass)."""
        return self.weight_bytes / self.disk_bytes_per_s if self.disk_bytes_per_s else None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "expected_seconds": self.expected_seconds()}


@dataclass
class SliProgress:
    stage: str  # embedding | layer | tail | done
    layer: int  # the layer being run (-1 while embedding)
    layers: int
    batch: int
    batches: int
    bytes_read: int
    read_bytes_per_s: float
    eta_s: float | None


@dataclass
class SliResult:
    status: str  # finished | stopped
    outputs: Path | None
    bytes_read: int
    weight_bytes: int
    seconds: float
    read_seconds: float
    samples: int
    tokens: int
    batch_size: int
    layer_seconds: list[float] = field(default_factory=list)

    @property
    def read_ratio(self) -> float:
        """Bytes read in this pass ÷ the weight bytes it needs (1.0: every needed weight read once)."""
        return self.bytes_read / self.weight_bytes if self.weight_bytes else 0.0


def parse_size(text: str) -> int:
    """'8GB', '512MiB', '1.5 GB' or a plain number of bytes."""
    import re

    match = re.fullmatch(r"\s*([\d.]+)\s*([kmgt]?i?b?)?\s*", text.lower())
    if not match:
        raise SliError(f"{text!r} is not a size.", hint="Write it like 8GB, 512MB or 1.5GiB.")
    number, unit = float(match.group(1)), (match.group(2) or "").rstrip("b").rstrip("i")
    return int(number * {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}[unit])


def measure_disk_read(folder: Path, limit: int = 256 * 2**20) -> float | None:
    """Sequential read speed of the model's largest shard (page cache dropped first where the OS allows)."""
    files = sorted(folder.glob("*.safetensors"), key=lambda p: p.stat().st_size, reverse=True)
    if not files:
        return None
    path = files[0]
    fd = os.open(path, os.O_RDONLY)
    try:
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        started, total = time.perf_counter(), 0
        while total < limit:
            chunk = os.read(fd, 8 * 2**20)
            if not chunk:
                break
            total += len(chunk)
        seconds = time.perf_counter() - started
    finally:
        os.close(fd)
    return total / seconds if seconds > 0 and total else None


# ---- the model skeleton --------------------------------------------------------------------------------


def _skeleton(folder: Path, dtype_name: str) -> tuple[Any, Any, Family]:
    import torch
    import transformers

    from nexus_core.models.detect import inspect_model
    from nexus_core.models.loader import resolve_config
    from nexus_core.models.streaming import parameters_on_meta

    info = inspect_model(folder)
    config, _note = resolve_config(info, False)
    family = detect_family(config)
    auto = transformers.AutoModelForSeq2SeqLM if family.encoder_decoder else transformers.AutoModelForCausalLM
    with parameters_on_meta():
        model = auto.from_config(config, dtype=getattr(torch, dtype_name))
    return model.eval(), config, family


def _free_memory(device: str) -> int:
    import psutil

    if device.startswith("cuda"):
        import torch

        free, _total = torch.cuda.mem_get_info(torch.device(device))
        return int(free)
    return int(psutil.virtual_memory().available)


@dataclass
class _Inputs:
    """The pass's token ids: ``ids`` feed the first stack; an encoder-decoder's decoder reads ``target``
    (the decoder input ids: the start token, then the target shifted right)."""

    ids: Any
    lengths: Any
    target: Any = None
    target_lengths: Any = None

    FILES = (("ids", "input_ids"), ("lengths", "lengths"), ("target", "decoder_input_ids"),
             ("target_lengths", "decoder_lengths"))

    def save(self, folder: Path) -> None:
        import numpy as np

        for attr, name in self.FILES:
            if getattr(self, attr) is not None:
                np.save(folder / f"{name}.npy", getattr(self, attr))

    @classmethod
    def load(cls, folder: Path) -> _Inputs:
        import numpy as np

        found = {attr: np.load(folder / f"{name}.npy") for attr, name in cls.FILES
                 if (folder / f"{name}.npy").is_file()}
        return cls(**found)

    def for_stack(self, stack: int, encoder_decoder: bool) -> tuple[Any, Any]:
        return (self.target, self.target_lengths) if encoder_decoder and stack == 1 else (self.ids, self.lengths)

    def digest(self) -> str:
        parts = [self.ids.tobytes()] + ([self.target.tobytes()] if self.target is not None else [])
        return hashlib.sha256(b"".join(parts)).hexdigest()


class SliRunner:
    def __init__(self, model_path: Path | str, out_dir: Path | str, *, memory_budget: int | None = None,
                 top_k: int = 0, layers_out: tuple[int, ...] = (), device: str = "auto", dtype: str = "auto",
                 max_length: int = 512, batch_size: int | None = None) -> None:
        from nexus_core.models.devices import pick_device_and_dtype

        self.model_path = Path(model_path)
        self.out_dir = Path(out_dir)
        self.device, self.dtype_name = pick_device_and_dtype(device, dtype)
        if self.device == "cpu" and dtype == "auto":
            self.dtype_name = "float32"
        self.model, self.config, self.family = _skeleton(self.model_path, self.dtype_name)
        self.store = WeightStore(self.model_path, self.model)
        self.store.pin_memory = self.device.startswith("cuda")
        self.stack_layers = []
        for stack in self.family.stacks:
            layers = resolve(self.model, stack.layers)
            if layers is None:
                raise SliError(f"The {self.family.name} model has no {stack.layers}.", path=self.model_path)
            self.stack_layers.append(layers)
        # every layer of the pass in order, as (stack, index in the stack): an encoder's layers come first
        self.units = [(s, i) for s, layers in enumerate(self.stack_layers) for i in range(len(layers))]
        self.offsets = [sum(len(layers) for layers in self.stack_layers[:s]) for s in range(len(self.stack_layers))]
        self.pinned_keys = self._shared_bias_keys()
        self.top_k = top_k
        self.layers_out = tuple(sorted(set(layers_out)))
        bad = [i for i in self.layers_out if not 0 <= i < len(self.units)]
        if bad:
            where = " (encoder layers first, then decoder layers)" if self.family.encoder_decoder else ""
            raise SliError(f"--layers-out {bad[0]} is not a layer of this model (0–{len(self.units) - 1}{where}).")
        self.max_length = max_length
        self.memory_budget = memory_budget
        self.batch_size = batch_size
        self._pinned: dict[str, Any] = {}
        self._prefetch = False
        self._restore_experts: tuple[Any, str, Any] | None = None
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="sli-io")

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self.store.close()

    # ---- the layers ----------------------------------------------------------------------------------

    def _layer(self, g: int) -> Any:
        s, i = self.units[g]
        return self.stack_layers[s][i]

    def _prefix(self, g: int) -> str:
        s, i = self.units[g]
        return self.family.stacks[s].layer_prefix(i)

    def _shared_bias_keys(self) -> set[str]:
        """T5's relative-position tables (in each stack's first layer): small, and every layer needs them."""
        keys: set[str] = set()
        for stack in self.family.stacks:
            if stack.shared_bias:
                keys.update(self.store.model_keys_under(f"{stack.layer_prefix(0)}{stack.shared_bias}.{BIAS_TABLE}."))
        return keys

    def _key_bytes(self, keys: Any) -> int:
        return sum(self.store.sources[self.store.to_checkpoint[k]].end
                   - self.store.sources[self.store.to_checkpoint[k]].start for k in keys)

    # ---- planning ----------------------------------------------------------------------------------

    def _checkpoint_layer_prefix(self, g: int) -> str:
        model_prefix = self._prefix(g)
        sample = next(iter(self.store.model_keys_under(model_prefix)), None)
        return self.store.to_checkpoint[sample][: -len(sample) + len(model_prefix)] if sample else model_prefix

    def plan(self, *, measure_disk: bool = False) -> SliPlan:
        layer_bytes = [self.store.bytes_under(self._prefix(g), self._checkpoint_layer_prefix(g)
                                              if self.family.experts else None)
                       - self._key_bytes(k for k in self.pinned_keys if k.startswith(self._prefix(g)))
                       for g in range(len(self.units))]
        head_bytes = self._key_bytes(self.store.model_keys_under(self.family.head + "."))
        weight_bytes = self.store.total_bytes()
        resident = weight_bytes - sum(layer_bytes) - head_bytes
        largest = max(layer_bytes, default=0)
        minimum = resident + largest + self._activation_bytes(1)
        budget = self.memory_budget if self.memory_budget is not None else _free_memory(self.device)
        if budget < minimum:
            raise SliError(f"A memory budget of {budget / 2**30:.2f} GiB is smaller than this model needs: its "
                           f"largest layer is {largest / 2**30:.2f} GiB, the parts that stay loaded "
                           f"{resident / 2**30:.2f} GiB.",
                           hint=f"Give at least --memory-budget {math.ceil(minimum / 2**20)}MB.")
        prefetch = budget >= resident + 2 * largest + self._activation_bytes(1)
        return SliPlan(self.family.name, len(self.units), layer_bytes, resident, head_bytes, weight_bytes, largest,
                       minimum, budget, prefetch, measure_disk_read(self.model_path) if measure_disk else None)

    def _activation_bytes(self, samples: int) -> int:
        """One layer's working memory for ``samples`` sequences. Per token: 20 hidden-sized and 6 MLP-width
        float32 tensors and three rows of attention scores per head. Calibrated on Llama with
        benchmarks/sli_pass.py (the batch read from the cache and the next one, their copies, residual, norms,
        q/k/v/o, the output and its copy for the writer, and what the allocator holds between batches)."""
        config = self.config
        hidden = self._hidden_size()
        inner = int(getattr(config, "intermediate_size", 0) or getattr(config, "d_ff", 0) or 4 * hidden)
        heads = int(getattr(config, "num_attention_heads", 0) or getattr(config, "num_heads", 0) or 1)
        t = self.max_length
        return samples * t * (20 * hidden + 6 * inner + 3 * heads * t) * 4

    def _hidden_size(self) -> int:
        return int(getattr(self.config, "hidden_size", 0) or getattr(self.config, "d_model", 0) or 1024)

    def _batch_size(self, plan: SliPlan, samples: int) -> int:
        if self.batch_size:
            return max(1, min(self.batch_size, samples))
        spare = plan.budget - plan.resident_bytes - plan.largest_layer * (2 if plan.prefetch else 1)
        return max(1, min(samples, spare // max(1, self._activation_bytes(1)), 64))

    # ---- data --------------------------------------------------------------------------------------

    def _tokenize(self, data: Path) -> _Inputs:
        """Token ids in data order: text records through the model's tokenizer, or ``{"input_ids": [...]}``
        records as they are (for an encoder-decoder, with ``"labels"`` or ``"decoder_input_ids"``)."""
        sources: list[list[int]] = []
        targets: list[list[int] | None] = []
        pretokenised = data.suffix == ".jsonl" and data.is_file() and _first_record_has_ids(data)
        if pretokenised:
            for number, line in enumerate(data.read_text(encoding="utf-8").splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                    ids = _token_list(record["input_ids"])
                    target = record.get("labels", record.get("decoder_input_ids"))
                    target = None if target is None else _token_list(target)
                    if target is not None and "labels" in record:
                        target = self._shift_right(target)
                except (ValueError, KeyError, TypeError, AttributeError):
                    raise SliError(f"{data.name} line {number}: expected {{\"input_ids\": [token ids]}}.",
                                   path=data, hint="Write one JSON object per line, or give text records.") from None
                sources.append(ids)
                targets.append(target)
        else:
            sources, targets = self._tokenize_text(data)
        if not sources:
            raise SliError("The data holds no samples.", path=data)
        vocab = int(getattr(self.config, "vocab_size", 0) or 0)
        if vocab and max(max(r) for r in [*sources, *(t for t in targets if t)]) >= vocab:
            raise SliError(f"A token id is outside the model's vocabulary of {vocab}.", path=data,
                           hint="The data was tokenised for another model.")
        ids, lengths = _pad([r[: self.max_length] for r in sources])
        if not self.family.encoder_decoder:
            return _Inputs(ids, lengths)
        start = [self._decoder_start()]
        target, target_lengths = _pad([(t or start)[: self.max_length] for t in targets])
        return _Inputs(ids, lengths, target, target_lengths)

    def _tokenize_text(self, data: Path) -> tuple[list[list[int]], list[list[int] | None]]:
        """Text records; for an encoder-decoder, a chat's last assistant message is the decoder's target."""
        from nexus_core.distill.data import Sample, load_samples, render
        from nexus_core.models.detect import inspect_model
        from nexus_core.models.loader import load_preprocessors

        tokenizer, _processor, note = load_preprocessors(inspect_model(self.model_path))
        if tokenizer is None:
            raise SliError(f"The model has no tokenizer ({note}); give pre-tokenised input_ids records.",
                           path=self.model_path)
        samples, _report = load_samples(data)
        sources: list[list[int]] = []
        targets: list[list[int] | None] = []
        for sample in samples:
            target = None
            if self.family.encoder_decoder and sample.messages and sample.messages[-1][0] == "assistant":
                target = self._shift_right(list(tokenizer(sample.messages[-1][1])["input_ids"]))
                sample = Sample(messages=sample.messages[:-1]) if len(sample.messages) > 1 else Sample(text="")
            ids = list(tokenizer(render(sample, tokenizer), add_special_tokens=True)["input_ids"])
            if ids:
                sources.append(ids)
                targets.append(target)
        return sources, targets

    def _decoder_start(self) -> int:
        start = getattr(self.config, "decoder_start_token_id", None)
        return int(start if start is not None else getattr(self.config, "pad_token_id", 0) or 0)

    def _shift_right(self, labels: list[int]) -> list[int]:
        """Decoder inputs for ``labels``: position t sees the start token and labels before t, and predicts
        labels[t] (as transformers' ``_shift_right``)."""
        return [self._decoder_start(), *labels[:-1]]

    # ---- capturing a layer's inputs ------------------------------------------------------------------

    @contextlib.contextmanager
    def _only_layer(self, g: int) -> Iterator[Any]:
        import torch

        s, _i = self.units[g]
        parent_path, _, attr = self.family.stacks[s].layers.rpartition(".")
        parent = resolve(self.model, parent_path) if parent_path else self.model
        layer = self._layer(g)
        setattr(parent, attr, torch.nn.ModuleList([layer]))
        try:
            yield layer
        finally:
            setattr(parent, attr, self.stack_layers[s])

    def _capture(self, g: int, inputs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The positional and keyword arguments the model passes to layer ``g`` for this batch."""
        import torch

        def hook(_module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
            raise _Captured(args, kwargs)

        with self._only_layer(g) as layer:
            handle = layer.register_forward_pre_hook(hook, with_kwargs=True)
            try:
                with torch.no_grad():
                    self.model(**inputs, use_cache=False)
            except _Captured as captured:
                return self._with_shared_bias(g, captured.args, captured.kwargs)
            finally:
                handle.remove()
        raise SliError(f"The model never called layer {g}; it cannot be streamed.", path=self.model_path)

    def _with_shared_bias(self, g: int, args: tuple[Any, ...], kwargs: dict[str, Any]
                          ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """T5: the model hands layer 0's relative-position bias to later layers; alone, a later layer would get
        none. It depends only on the length, so it is computed here from the table kept loaded."""
        import inspect

        s, i = self.units[g]
        stack = self.family.stacks[s]
        if stack.shared_bias is None or i == 0:
            return args, kwargs
        attention = resolve(self.stack_layers[s][0], stack.shared_bias)
        width = int((args[0] if args else kwargs["hidden_states"]).shape[1])
        bias = attention.compute_bias(width, width, device=self.device)
        names = [n for n in inspect.signature(self._layer(g).forward).parameters]
        position = names.index("position_bias")
        if len(args) > position:
            return (*args[:position], bias, *args[position + 1:]), kwargs
        return args, {**kwargs, "position_bias": bias}

    # ---- weights -------------------------------------------------------------------------------------

    def _load_resident(self) -> None:
        prefixes = [stack.layers + "." for stack in self.family.stacks] + [self.family.head + "."]
        keys = [k for k in self.store.to_checkpoint if not any(k.startswith(p) for p in prefixes)]
        tensors = self.store.read([*keys, *sorted(self.pinned_keys)], slot_dtypes(self.model, ""))
        self._pinned = {k: tensors[k].to(self.device) for k in self.pinned_keys}
        assign(self.model, "", tensors, self.device)
        for module in self.model.modules():  # buffers computed at build time (rotary frequencies) follow
            for attr, buffer in list(module._buffers.items()):
                if buffer is not None and buffer.device.type != "meta":
                    module._buffers[attr] = buffer.to(self.device)
        if hasattr(self.model, "tie_weights"):
            self.model.tie_weights()  # shared embeddings (and a tied output head) point at the loaded ones

    def _read_layer(self, g: int) -> dict[str, Any]:
        """Layer ``g``'s weights into a staging slot: with read-ahead, layers alternate between two (layer g-1
        is released before g+1 is read into its slot), otherwise one."""
        prefix = self._prefix(g)
        keys = [k for k in self.store.model_keys_under(prefix) if k not in self.pinned_keys]
        return self.store.read(keys, slot_dtypes(self._layer(g), prefix), staging=g % 2 if self._prefetch else 0)

    def _install_layer(self, g: int, tensors: dict[str, Any]) -> None:
        from nexus_core.sli.experts import lazy_experts, per_expert_checkpoint

        prefix = self._prefix(g)
        layer = self._layer(g)
        assign(layer, prefix, tensors, self.device)
        layout = self.family.experts
        if layout is not None:
            checkpoint_prefix = self._checkpoint_layer_prefix(g)
            parent_path, _, attr = layout.module.rpartition(".")
            parent = resolve(layer, parent_path) if parent_path else layer
            original = getattr(parent, attr, None)
            if original is not None and per_expert_checkpoint(self.store, checkpoint_prefix, layout):
                setattr(parent, attr, lazy_experts(original, self.store, checkpoint_prefix, layout, self.device,
                                                   self._layer_dtype()))
                self._restore_experts = (parent, attr, original)

    def _free_layer(self, g: int) -> None:
        release(self._layer(g))
        prefix = self._prefix(g)
        kept = {k: v for k, v in self._pinned.items() if k.startswith(prefix)}
        if kept:
            assign(self.model, "", kept, self.device)
        if self._restore_experts is not None:
            parent, attr, original = self._restore_experts
            setattr(parent, attr, original)
            self._restore_experts = None

    # ---- the pass ------------------------------------------------------------------------------------

    def run(self, data: Path | str, *, resume: bool = False, progress: Callable[[SliProgress], None] | None = None,
            should_stop: Callable[[], bool] = lambda: False) -> SliResult:
        data = Path(data)
        started = time.perf_counter()
        keep_heap_compact()
        self.out_dir.mkdir(parents=True, exist_ok=True)
        plan = self.plan()
        self._prefetch = plan.prefetch
        state_path = self.out_dir / STATE_FILE
        state = self._load_state(state_path, data) if resume else None
        if state is None:
            if (self.out_dir / OUTPUTS).exists() or state_path.exists():
                raise SliError("The output folder already holds a pass.", path=self.out_dir,
                               hint="Continue it with --resume, or pick another --out.")
            inputs = self._tokenize(data)
            inputs.save(self.out_dir)
            state = {"format": FORMAT, "version": VERSION, "model": str(self.model_path.resolve()),
                     "data": str(data.resolve()), "data_sha256": inputs.digest(), "top_k": self.top_k,
                     "layers_out": list(self.layers_out), "dtype": self.dtype_name, "stack": 0, "embedded": False,
                     "next_layer": 0, "layers": len(self.units), "status": "running"}
            self._save_state(state_path, state)
        inputs = _Inputs.load(self.out_dir)
        samples = inputs.ids.shape[0]
        batch = self._batch_size(plan, samples)
        fresh = state["stack"] == 0 and not state["embedded"]
        with _disk_space(self.out_dir):
            layer_outs = {g: working_array(self.out_dir / f"hidden-{g}.bin", (samples, self._width(inputs, g),
                                                                              self._hidden_size()),
                                           self._act_dtype(), create=fresh) for g in self.layers_out}
        starts = list(range(0, samples, batch))
        needed = plan.weight_bytes - (0 if self.top_k else plan.head_bytes)  # no top-k: the head is never read
        tokens = int(inputs.lengths.sum()) + (int(inputs.target_lengths.sum()) if inputs.target is not None else 0)
        result = SliResult("stopped", None, 0, needed, 0.0, 0.0, samples, tokens, batch)
        pass_ = _Pass(self, state, state_path, inputs, batch, starts, layer_outs, result, started,
                      self.store.bytes_read, progress, should_stop)
        self._load_resident()
        try:
            for s in range(state["stack"], len(self.family.stacks)):
                if not pass_.run_stack(s):
                    return self._stopped(result, started)
        finally:
            self._free_all()
            self.store.drop_staging()
            pass_.close()
        state["status"] = "finished"
        self._save_state(state_path, state)
        for path in [*self.out_dir.glob("activations-*.bin"), self.out_dir / ENCODER_CACHE,
                     *(self.out_dir / f"hidden-{g}.bin" for g in self.layers_out)]:
            path.unlink(missing_ok=True)
        result.status, result.outputs = "finished", self.out_dir / OUTPUTS
        result.bytes_read = self.store.bytes_read - pass_.read_started
        result.seconds = time.perf_counter() - started
        pass_.report("done", len(self.units), len(starts))
        return result

    def _width(self, inputs: _Inputs, g: int) -> int:
        ids, _lengths = inputs.for_stack(self.units[g][0], self.family.encoder_decoder)
        return int(ids.shape[1])

    def _act_dtype(self) -> str:
        return "float16" if self.dtype_name == "float16" else "float32"

    def _layer_dtype(self) -> Any:
        import torch

        return getattr(torch, self.dtype_name)

    def _timed_read(self, g: int, result: SliResult) -> dict[str, Any]:
        began = time.perf_counter()
        tensors = self._read_layer(g)
        result.read_seconds += time.perf_counter() - began
        return tensors

    def _stopped(self, result: SliResult, started: float) -> SliResult:
        result.seconds = time.perf_counter() - started
        return result

    def _free_all(self) -> None:
        for g in range(len(self.units)):
            self._free_layer(g)

    def _head_input(self, states: Any) -> Any:
        """What the model feeds its head: T5 with a tied head scales the decoder's output by d_model ** -0.5."""
        flag = self.family.head_scale_flag
        if flag and getattr(self.config, flag, False):
            return states * (self._hidden_size() ** -0.5)
        return states

    def _tail(self, last: Any, inputs: _Inputs, batch: int, copies: dict[str, Any],
              report: Callable[[str, int, int], None]) -> None:
        """hidden_last through the last stack's tail modules, the head's top-k, and the outputs file."""
        import numpy as np
        import torch

        samples, width, hidden = last.shape
        tensors: dict[str, tuple[tuple[int, ...], str]] = {
            name: (tuple(array.shape), str(array.dtype)) for name, array in self._small_outputs(inputs).items()}
        tensors["hidden_last"] = ((samples, width, hidden), "float32")
        for name, array in copies.items():
            tensors[name] = (tuple(array.shape), "float32")
        self.store.drop_staging()  # every layer has run
        head = None
        if self.top_k:
            self._drop_embeddings()  # no longer needed; a head tied to them keeps its own reference
            head = resolve(self.model, self.family.head)
            keys = self.store.model_keys_under(self.family.head + ".")
            if head is not None and keys:
                assign(head, self.family.head + ".", self.store.read(keys, slot_dtypes(head, self.family.head + ".")),
                       self.device)
            k = min(self.top_k, int(self.config.vocab_size))
            tensors.update({"topk_values": ((samples, width, k), "float32"),
                            "topk_indices": ((samples, width, k), "int64"),
                            "logsumexp": ((samples, width), "float32")})
        partial = self.out_dir / (OUTPUTS + ".partial")
        with _disk_space(self.out_dir):
            writer = SafetensorsWriter(partial, tensors, {"format": "nexus-sli-outputs",
                                                          "model": str(self.model_path), "family": self.family.name})
        for name, array in self._small_outputs(inputs).items():
            writer.arrays[name][:] = array
        for name, array in copies.items():
            for start in range(0, samples, batch):
                writer.arrays[name][start:start + batch] = array[start:start + batch]
        modules = [m for m in (resolve(self.model, p) for p in self.family.stacks[-1].tail) if m is not None]
        rows = self._head_rows(head) if head is not None else 0
        for n, start in enumerate(range(0, samples, batch)):
            states = torch.from_numpy(np.array(last[start:start + batch], dtype=np.float32)).to(self.device)
            with torch.no_grad():
                states = states.to(self._layer_dtype())
                for module in modules:
                    states = module(states)
                writer.arrays["hidden_last"][start:start + batch] = states.float().cpu().numpy()
                if head is not None:
                    values, indices, lse = self._head_topk(head, self._head_input(states), rows,
                                                           writer.arrays["topk_values"].shape[-1])
                    writer.arrays["topk_values"][start:start + batch] = values
                    writer.arrays["topk_indices"][start:start + batch] = indices
                    writer.arrays["logsumexp"][start:start + batch] = lse
            report("tail", len(self.units), n + 1)
        writer.close()
        if head is not None:
            release(head)
        partial.rename(self.out_dir / OUTPUTS)

    def _drop_embeddings(self) -> None:
        """Before the head is loaded: every weight but the last stack's tail and the head (which may be the input
        embedding itself) goes back to the meta device."""
        import torch

        keep = tuple(f"{path}." for path in (*self.family.stacks[-1].tail, self.family.head))
        for name, module in self.model.named_modules():
            for attr, param in list(module._parameters.items()):
                if param is not None and param.device.type != "meta" and not f"{name}.{attr}".startswith(keep):
                    module._parameters[attr] = torch.nn.Parameter(param.to("meta"), requires_grad=False)

    def _head_rows(self, head: Any) -> int:
        """Token positions per pass through the head: the logits (and their scratch for top-k and logsumexp)
        of that many rows fit in what the budget leaves beside the head, up to a fixed working size."""
        vocab = int(self.config.vocab_size)
        head_bytes = sum(p.numel() * p.element_size() for p in head.parameters())
        spare = (self.memory_budget or _free_memory(self.device)) - head_bytes
        cap = (512 if self.device.startswith("cuda") else 64) * 2**20
        return max(1, min(spare // 2, cap) // (vocab * 4 * 3))

    def _head_topk(self, head: Any, states: Any, rows: int, k: int) -> tuple[Any, Any, Any]:
        """Top-k logits, their token ids and the log-normaliser for every position of ``states`` [B, T, H],
        ``rows`` positions at a time (exact: each position's logits are independent of the others')."""
        import torch

        softcap = getattr(self.config, "final_logit_softcapping", None)
        flat = states.reshape(-1, states.shape[-1])
        values, indices, lse = [], [], []
        for start in range(0, flat.shape[0], rows):
            logits = head(flat[start:start + rows]).float()
            if softcap:
                logits = torch.tanh(logits / softcap) * softcap
            top = logits.topk(k, dim=-1)
            values.append(top.values.cpu())
            indices.append(top.indices.cpu())
            lse.append(torch.logsumexp(logits, -1).cpu())
            del logits
        shape = states.shape[:-1]
        return (torch.cat(values).reshape(*shape, k).numpy(), torch.cat(indices).reshape(*shape, k).numpy(),
                torch.cat(lse).reshape(shape).numpy())

    def _small_outputs(self, inputs: _Inputs) -> dict[str, Any]:
        found = {"input_ids": inputs.ids, "lengths": inputs.lengths}
        if inputs.target is not None:
            found.update({"decoder_input_ids": inputs.target, "decoder_lengths": inputs.target_lengths})
        return found

    def _encoder_tail(self, last: Any, batch: int, report: Callable[[str, int, int], None]) -> None:
        """The encoder's output (through its tail) into the cache every decoder layer's cross-attention reads."""
        import numpy as np
        import torch

        modules = [m for m in (resolve(self.model, p) for p in self.family.stacks[0].tail) if m is not None]
        with _disk_space(self.out_dir):
            target = working_array(self.out_dir / ENCODER_CACHE, tuple(last.shape), self._act_dtype(), create=True)
        try:
            for start in range(0, last.shape[0], batch):
                states = torch.from_numpy(np.array(last[start:start + batch], dtype=np.float32)).to(self.device)
                with torch.no_grad():
                    states = states.to(self._layer_dtype())
                    for module in modules:
                        states = module(states)
                target[start:start + batch] = states.float().cpu().numpy()
        finally:
            target.close()
        report("tail", self.offsets[1] - 1, 1)

    # ---- state -------------------------------------------------------------------------------------

    def _save_state(self, path: Path, state: dict[str, Any]) -> None:
        atomic_write_text(path, json.dumps(state, indent=1))

    def _load_state(self, path: Path, data: Path) -> dict[str, Any] | None:
        if not path.is_file():
            return None
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise SliError(f"The pass state cannot be read: {exc}", path=path, hint="Start the pass again.") from None
        if state.get("format") != FORMAT or state.get("version") != VERSION:
            raise SliError("The folder holds a pass from another version.", path=path, hint="Start a new pass.")
        if state.get("model") != str(self.model_path.resolve()) or state.get("top_k") != self.top_k or \
                state.get("layers_out") != list(self.layers_out) or state.get("dtype") != self.dtype_name:
            raise SliError("The pass in this folder was started with another model or settings.", path=path,
                           hint="Resume with the same --model, --top-k, --layers-out, or pick another --out.")
        if state.get("status") == "finished":
            raise SliError("This pass has already finished.", path=self.out_dir / OUTPUTS,
                           hint="Its outputs are in outputs.safetensors.")
        return state


class _Pass:
    """One run of :meth:`SliRunner.run`: the stacks' embedding, layer-major loop and tails, with progress."""

    def __init__(self, runner: SliRunner, state: dict[str, Any], state_path: Path, inputs: _Inputs, batch: int,
                 starts: list[int], layer_outs: dict[int, Any], result: SliResult, started: float, read_started: int,
                 progress: Callable[[SliProgress], None] | None, should_stop: Callable[[], bool]) -> None:
        self.runner, self.state, self.state_path, self.inputs = runner, state, state_path, inputs
        self.batch, self.starts, self.layer_outs, self.result = batch, starts, layer_outs, result
        self.started, self.read_started, self.progress, self.should_stop = started, read_started, progress, should_stop
        self.first_layer = state["next_layer"]
        self._open: list[Any] = []

    def close(self) -> None:
        for array in [*self._open, *self.layer_outs.values()]:
            array.close()
        self._open = []

    def report(self, stage: str, layer: int, done: int) -> None:
        if self.progress is None:
            return
        runner, starts = self.runner, self.starts
        elapsed = time.perf_counter() - self.started
        read = runner.store.bytes_read - self.read_started
        layers_done = layer - self.first_layer + done / len(starts) if stage == "layer" else 0.0
        eta = elapsed / layers_done * (len(runner.units) - layer - done / len(starts)) if layers_done else None
        self.progress(SliProgress(stage, layer, len(runner.units), done, len(starts), read,
                                  read / elapsed if elapsed > 0 else 0.0, eta))

    def _batch_inputs(self, s: int, start: int, encoder_out: Any) -> dict[str, Any]:
        """The model's forward arguments for rows ``start``… of stack ``s`` (tensors on the device)."""
        import numpy as np
        import torch

        runner, stop = self.runner, start + self.batch
        device = runner.device

        def rows(ids: Any, lengths: Any) -> tuple[Any, Any]:
            width = ids.shape[1]
            mask = (np.arange(width)[None, :] < lengths[start:stop, None]).astype(np.int64)
            return torch.from_numpy(np.ascontiguousarray(ids[start:stop])).to(device), torch.from_numpy(mask).to(device)

        source_ids, source_mask = rows(self.inputs.ids, self.inputs.lengths)
        if not (runner.family.encoder_decoder and s == 1):
            return {"input_ids": source_ids, "attention_mask": source_mask}
        target_ids, target_mask = rows(self.inputs.target, self.inputs.target_lengths)
        encoded = torch.from_numpy(np.array(encoder_out[start:stop], dtype=np.float32)).to(device)
        return {"encoder_outputs": (encoded.to(runner._layer_dtype()),), "attention_mask": source_mask,
                "decoder_input_ids": target_ids, "decoder_attention_mask": target_mask}

    def _load_batch(self, s: int, start: int, source: Any, encoder_out: Any) -> tuple[dict[str, Any], Any]:
        import numpy as np
        import torch

        states = torch.from_numpy(np.array(source[start:start + self.batch], dtype=np.float32)).to(self.runner.device)
        return self._batch_inputs(s, start, encoder_out), states

    def run_stack(self, s: int) -> bool:
        """Embed, run every layer, and pass stack ``s`` on (to the encoder cache or the outputs); False when
        asked to stop (the state then says where to resume)."""
        import torch

        runner, state, starts, batch = self.runner, self.state, self.starts, self.batch
        samples = self.inputs.ids.shape[0]
        width = runner._width(self.inputs, runner.offsets[s])
        offset, count = runner.offsets[s], len(runner.stack_layers[s])
        decoder = runner.family.encoder_decoder and s == 1
        with _disk_space(runner.out_dir):
            acts = [working_array(runner.out_dir / f"activations-{s}-{i}.bin", (samples, width, runner._hidden_size()),
                                  runner._act_dtype(), create=not state["embedded"]) for i in (0, 1)]
            encoder_out = working_array(runner.out_dir / ENCODER_CACHE, (samples, self.inputs.ids.shape[1],
                                                                        runner._hidden_size()),
                                        runner._act_dtype(), create=False) if decoder else None
        self._open = [*acts, *([encoder_out] if encoder_out is not None else [])]
        if not state["embedded"]:  # embed every sample once
            for n, start in enumerate(starts):
                if self.should_stop():
                    return False
                args, kwargs = runner._capture(offset, self._batch_inputs(s, start, encoder_out))
                embedded = args[0] if args else kwargs["hidden_states"]
                acts[0][start:start + batch] = embedded.float().cpu().numpy()
                self.report("embedding", offset - 1, n + 1)
            state.update(embedded=True, next_layer=offset)
            runner._save_state(self.state_path, state)
        pending: Future[dict[str, Any]] | None = None
        for g in range(state["next_layer"], offset + count):
            layer_started = time.perf_counter()
            weights = pending.result() if pending is not None else runner._timed_read(g, self.result)
            pending = None
            runner._install_layer(g, weights)
            del weights
            if runner._prefetch and g + 1 < offset + count:
                pending = runner._executor.submit(runner._timed_read, g + 1, self.result)
            source, target = acts[(g - offset) % 2], acts[(g - offset + 1) % 2]
            next_batch = runner._executor.submit(self._load_batch, s, starts[0], source, encoder_out)
            writes: list[Future[None]] = []
            for n, start in enumerate(starts):
                if self.should_stop():
                    for write in writes:
                        write.result()
                    if pending is not None:
                        pending.result()
                    return False
                inputs, states = next_batch.result()
                if n + 1 < len(starts):
                    next_batch = runner._executor.submit(self._load_batch, s, starts[n + 1], source, encoder_out)
                args, kwargs = runner._capture(g, inputs)
                with torch.no_grad():
                    out = runner._layer(g)(states.to(runner._layer_dtype()), *args[1:], **kwargs)
                out = (out[0] if isinstance(out, tuple) else out).float().cpu().numpy()
                writes.append(runner._executor.submit(_write, target, start, out))
                if g in self.layer_outs:
                    self.layer_outs[g][start:start + batch] = out
                self.report("layer", g, n + 1)
            for write in writes:
                write.result()
            runner._free_layer(g)
            give_back_free_memory()
            state["next_layer"] = g + 1
            runner._save_state(self.state_path, state)
            self.result.layer_seconds.append(time.perf_counter() - layer_started)
        last = acts[count % 2]
        if s + 1 < len(runner.family.stacks):
            runner._encoder_tail(last, batch, self.report)
            state.update(stack=s + 1, embedded=False)
            runner._save_state(self.state_path, state)
            self.close_stack()
            for array in acts:  # the encoder's working caches are done with; its output is in ENCODER_CACHE
                array.path.unlink(missing_ok=True)
            return True
        copies = {f"hidden_{g}": array for g, array in self.layer_outs.items()}
        if encoder_out is not None:
            copies["encoder_last"] = encoder_out
        runner._tail(last, self.inputs, batch, copies, self.report)
        self.close_stack()
        return True

    def close_stack(self) -> None:
        for array in self._open:
            array.close()
        self._open = []


@contextlib.contextmanager
def _disk_space(folder: Path) -> Iterator[None]:
    """A full disk (or a file-size limit) while allocating the caches: a clean, resumable stop."""
    try:
        yield
    except OSError as exc:
        raise SliError(f"The caches do not fit in the output folder: {exc.strerror or exc}.", path=folder,
                       hint="Free disk space (or choose another --out), then run again with --resume; finished "
                            "layers are kept.") from None


def _write(target: Any, start: int, values: Any) -> None:
    target[start:start + len(values)] = values


def _token_list(value: Any) -> list[int]:
    if not (isinstance(value, list) and value and all(isinstance(i, int) and i >= 0 for i in value)):
        raise ValueError("not a list of token ids")
    return value


def _pad(rows: list[list[int]]) -> tuple[Any, Any]:
    """Rows of token ids → (ids [N, T] padded with 0, lengths [N])."""
    import numpy as np

    width = max(len(r) for r in rows)
    ids = np.zeros((len(rows), width), dtype=np.int64)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = row
    return ids, np.array([len(r) for r in rows], dtype=np.int64)


def _first_record_has_ids(path: Path) -> bool:
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                try:
                    return "input_ids" in json.loads(line)
                except json.JSONDecodeError:
                    return False
    return False
