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
from nexus_core.sli.families import Family, detect_family, resolve
from nexus_core.sli.tensor_file import SafetensorsWriter, working_array
from nexus_core.sli.weights import WeightStore, assign, release, slot_dtypes

STATE_FILE = ".sli_state.json"
FORMAT = "nexus-sli-state"
VERSION = 1
OUTPUTS = "outputs.safetensors"


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
    with parameters_on_meta():
        model = transformers.AutoModelForCausalLM.from_config(config, dtype=getattr(torch, dtype_name))
    return model.eval(), config, family


def _free_memory(device: str) -> int:
    import psutil

    if device.startswith("cuda"):
        import torch

        free, _total = torch.cuda.mem_get_info(torch.device(device))
        return int(free)
    return int(psutil.virtual_memory().available)


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
        self.layers = resolve(self.model, self.family.layers)
        if self.layers is None:
            raise SliError(f"The {self.family.name} model has no {self.family.layers}.", path=self.model_path)
        self.top_k = top_k
        self.layers_out = tuple(sorted(set(layers_out)))
        bad = [i for i in self.layers_out if not 0 <= i < len(self.layers)]
        if bad:
            raise SliError(f"--layers-out {bad[0]} is not a layer of this model (0–{len(self.layers) - 1}).")
        self.max_length = max_length
        self.memory_budget = memory_budget
        self.batch_size = batch_size
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="sli-io")

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self.store.close()

    # ---- planning ----------------------------------------------------------------------------------

    def _checkpoint_layer_prefix(self, index: int) -> str:
        model_prefix = self.family.layer_prefix(index)
        sample = next(iter(self.store.model_keys_under(model_prefix)), None)
        return self.store.to_checkpoint[sample][: -len(sample) + len(model_prefix)] if sample else model_prefix

    def plan(self, *, measure_disk: bool = False) -> SliPlan:
        layer_bytes = [self.store.bytes_under(self.family.layer_prefix(i), self._checkpoint_layer_prefix(i)
                                              if self.family.experts else None) for i in range(len(self.layers))]
        head_keys = self.store.model_keys_under(self.family.head + ".")
        head_bytes = sum(self.store.sources[self.store.to_checkpoint[k]].end
                         - self.store.sources[self.store.to_checkpoint[k]].start for k in head_keys)
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
        return SliPlan(self.family.name, len(self.layers), layer_bytes, resident, head_bytes, weight_bytes, largest,
                       minimum, budget, prefetch, measure_disk_read(self.model_path) if measure_disk else None)

    def _activation_bytes(self, samples: int) -> int:
        """A generous estimate of one layer's working memory for ``samples`` sequences."""
        config = self.config
        hidden = int(getattr(config, "hidden_size", 0) or getattr(config, "d_model", 0) or 1024)
        inner = int(getattr(config, "intermediate_size", 0) or 4 * hidden)
        heads = int(getattr(config, "num_attention_heads", 0) or 1)
        t = self.max_length
        return samples * t * (8 * hidden + 3 * inner + heads * t) * 4

    def _batch_size(self, plan: SliPlan, samples: int) -> int:
        if self.batch_size:
            return max(1, min(self.batch_size, samples))
        spare = plan.budget - plan.resident_bytes - plan.largest_layer * (2 if plan.prefetch else 1)
        return max(1, min(samples, spare // max(1, self._activation_bytes(1)), 64))

    # ---- data --------------------------------------------------------------------------------------

    def _tokenize(self, data: Path) -> tuple[Any, Any]:
        """(input_ids [N, T], lengths [N]) in data order: text records through the model's tokenizer, or
        ``{"input_ids": [...]}`` records as they are."""
        import numpy as np

        from nexus_core.distill.data import load_samples, render
        from nexus_core.models.detect import inspect_model
        from nexus_core.models.loader import load_preprocessors

        rows: list[list[int]] = []
        pretokenised = data.suffix == ".jsonl" and data.is_file() and _first_record_has_ids(data)
        if pretokenised:
            for number, line in enumerate(data.read_text(encoding="utf-8").splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    ids = json.loads(line)["input_ids"]
                    if not (isinstance(ids, list) and ids and all(isinstance(i, int) and i >= 0 for i in ids)):
                        raise ValueError
                except (ValueError, KeyError, TypeError, json.JSONDecodeError):
                    raise SliError(f"{data.name} line {number}: expected {{\"input_ids\": [token ids]}}.",
                                   path=data, hint="Write one JSON object per line, or give text records.") from None
                rows.append(ids[: self.max_length])
        else:
            tokenizer, _processor, note = load_preprocessors(inspect_model(self.model_path))
            if tokenizer is None:
                raise SliError(f"The model has no tokenizer ({note}); give pre-tokenised input_ids records.",
                               path=self.model_path)
            samples, _report = load_samples(data)
            for sample in samples:
                ids = tokenizer(render(sample, tokenizer), add_special_tokens=True)["input_ids"][: self.max_length]
                if ids:
                    rows.append(list(ids))
        if not rows:
            raise SliError("The data holds no samples.", path=data)
        vocab = int(getattr(self.config, "vocab_size", 0) or 0)
        if vocab and max(max(r) for r in rows) >= vocab:
            raise SliError(f"A token id is outside the model's vocabulary of {vocab}.", path=data,
                           hint="The data was tokenised for another model.")
        width = max(len(r) for r in rows)
        ids = np.zeros((len(rows), width), dtype=np.int64)
        lengths = np.array([len(r) for r in rows], dtype=np.int64)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = row
        return ids, lengths

    # ---- capturing a layer's inputs ------------------------------------------------------------------

    @contextlib.contextmanager
    def _only_layer(self, index: int) -> Iterator[Any]:
        import torch

        parent_path, _, attr = self.family.layers.rpartition(".")
        parent = resolve(self.model, parent_path) if parent_path else self.model
        layer = self.layers[index]
        setattr(parent, attr, torch.nn.ModuleList([layer]))
        try:
            yield layer
        finally:
            setattr(parent, attr, self.layers)

    def _capture(self, index: int, ids: Any, mask: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The positional and keyword arguments the model passes to layer ``index`` for this batch."""
        import torch

        def hook(_module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
            raise _Captured(args, kwargs)

        with self._only_layer(index) as layer:
            handle = layer.register_forward_pre_hook(hook, with_kwargs=True)
            try:
                with torch.no_grad():
                    self.model(input_ids=ids, attention_mask=mask, use_cache=False)
            except _Captured as captured:
                return captured.args, captured.kwargs
            finally:
                handle.remove()
        raise SliError(f"The model never called layer {index}; it cannot be streamed.", path=self.model_path)

    # ---- weights -------------------------------------------------------------------------------------

    def _load_resident(self) -> None:
        prefixes = [self.family.layers + ".", self.family.head + "."]
        keys = [k for k in self.store.to_checkpoint if not any(k.startswith(p) for p in prefixes)]
        tensors = self.store.read(keys, slot_dtypes(self.model, ""))
        assign(self.model, "", tensors, self.device)
        for module in self.model.modules():  # buffers computed at build time (rotary frequencies) follow
            for attr, buffer in list(module._buffers.items()):
                if buffer is not None and buffer.device.type != "meta":
                    module._buffers[attr] = buffer.to(self.device)
        if getattr(self.config, "tie_word_embeddings", False) and hasattr(self.model, "tie_weights"):
            self.model.tie_weights()  # the output head is the input embedding, already loaded

    def _read_layer(self, index: int) -> dict[str, Any]:
        prefix = self.family.layer_prefix(index)
        layer = self.layers[index]
        keys = self.store.model_keys_under(prefix)
        return self.store.read(keys, slot_dtypes(layer, prefix))

    def _install_layer(self, index: int, tensors: dict[str, Any]) -> None:
        from nexus_core.sli.experts import lazy_experts, per_expert_checkpoint

        prefix = self.family.layer_prefix(index)
        layer = self.layers[index]
        assign(layer, prefix, tensors, self.device)
        layout = self.family.experts
        if layout is not None:
            checkpoint_prefix = self._checkpoint_layer_prefix(index)
            parent_path, _, attr = layout.module.rpartition(".")
            parent = resolve(layer, parent_path) if parent_path else layer
            original = getattr(parent, attr, None)
            if original is not None and per_expert_checkpoint(self.store, checkpoint_prefix, layout):
                import torch

                setattr(parent, attr, lazy_experts(original, self.store, checkpoint_prefix, layout, self.device,
                                                   getattr(torch, self.dtype_name)))
                self._restore_experts = (parent, attr, original)

    def _free_layer(self, index: int) -> None:
        release(self.layers[index])
        restore = getattr(self, "_restore_experts", None)
        if restore is not None:
            parent, attr, original = restore
            setattr(parent, attr, original)
            self._restore_experts = None

    # ---- the pass ------------------------------------------------------------------------------------

    def run(self, data: Path | str, *, resume: bool = False, progress: Callable[[SliProgress], None] | None = None,
            should_stop: Callable[[], bool] = lambda: False) -> SliResult:
        import numpy as np
        import torch

        data = Path(data)
        started = time.perf_counter()
        self.out_dir.mkdir(parents=True, exist_ok=True)
        plan = self.plan()
        state_path = self.out_dir / STATE_FILE
        state = self._load_state(state_path, data) if resume else None
        if state is None:
            if (self.out_dir / OUTPUTS).exists() or state_path.exists():
                raise SliError("The output folder already holds a pass.", path=self.out_dir,
                               hint="Continue it with --resume, or pick another --out.")
            ids, lengths = self._tokenize(data)
            np.save(self.out_dir / "input_ids.npy", ids)
            np.save(self.out_dir / "lengths.npy", lengths)
            state = {"format": FORMAT, "version": VERSION, "model": str(self.model_path.resolve()),
                     "data": str(data.resolve()), "data_sha256": _sha(ids), "top_k": self.top_k,
                     "layers_out": list(self.layers_out), "dtype": self.dtype_name, "next_layer": -1,
                     "layers": len(self.layers),
                     "status": "running"}
            self._save_state(state_path, state)
        ids = np.load(self.out_dir / "input_ids.npy")
        lengths = np.load(self.out_dir / "lengths.npy")
        samples, width = ids.shape
        hidden = int(getattr(self.config, "hidden_size", 0) or self.config.d_model)
        batch = self._batch_size(plan, samples)
        act_dtype = "float32" if self.dtype_name == "float32" else "float16" if self.dtype_name == "float16" \
            else "float32"
        with _disk_space(self.out_dir):
            acts = [working_array(self.out_dir / f"activations-{i}.bin", (samples, width, hidden), act_dtype,
                                  create=state["next_layer"] == -1) for i in (0, 1)]
            layer_outs = {i: working_array(self.out_dir / f"hidden-{i}.bin", (samples, width, hidden), act_dtype,
                                           create=state["next_layer"] == -1) for i in self.layers_out}
        mask = (np.arange(width)[None, :] < lengths[:, None]).astype(np.int64)
        starts = list(range(0, samples, batch))
        needed = plan.weight_bytes - (0 if self.top_k else plan.head_bytes)  # no top-k: the head is never read
        result = SliResult("stopped", None, 0, needed, 0.0, 0.0, samples, int(lengths.sum()), batch)
        read_started = self.store.bytes_read
        first_layer = max(0, state["next_layer"])

        def report(stage: str, layer: int, done: int) -> None:
            if progress is None:
                return
            elapsed = time.perf_counter() - started
            read = self.store.bytes_read - read_started
            layers_done = layer - first_layer + done / len(starts) if stage == "layer" else 0.0
            eta = elapsed / layers_done * (len(self.layers) - layer - done / len(starts)) if layers_done else None
            progress(SliProgress(stage, layer, len(self.layers), done, len(starts), read,
                                 read / elapsed if elapsed > 0 else 0.0, eta))

        def tensors(start: int, source: Any) -> tuple[Any, Any, Any]:
            stop = start + batch
            return (torch.from_numpy(np.ascontiguousarray(ids[start:stop])).to(self.device),
                    torch.from_numpy(mask[start:stop]).to(self.device),
                    torch.from_numpy(np.array(source[start:stop], dtype=np.float32)).to(self.device)
                    if source is not None else None)

        self._load_resident()
        try:
            if state["next_layer"] == -1:  # embed every sample once
                for n, start in enumerate(starts):
                    if should_stop():
                        return self._stopped(result, started)
                    batch_ids, batch_mask, _ = tensors(start, None)
                    args, kwargs = self._capture(0, batch_ids, batch_mask)
                    embedded = args[0] if args else kwargs["hidden_states"]
                    acts[0][start:start + batch] = embedded.float().cpu().numpy()
                    report("embedding", -1, n + 1)
                state["next_layer"] = 0
                self._save_state(state_path, state)
            pending: Future[dict[str, Any]] | None = None
            for index in range(state["next_layer"], len(self.layers)):
                layer_started = time.perf_counter()
                weights = pending.result() if pending is not None else self._timed_read(index, result)
                pending = None
                self._install_layer(index, weights)
                del weights
                if plan.prefetch and index + 1 < len(self.layers):
                    pending = self._executor.submit(self._timed_read, index + 1, result)
                source, target = acts[index % 2], acts[(index + 1) % 2]
                next_batch = self._executor.submit(tensors, starts[0], source)
                writes: list[Future[None]] = []
                for n, start in enumerate(starts):
                    if should_stop():
                        for write in writes:
                            write.result()
                        if pending is not None:
                            pending.result()
                        return self._stopped(result, started)
                    batch_ids, batch_mask, states = next_batch.result()
                    if n + 1 < len(starts):
                        next_batch = self._executor.submit(tensors, starts[n + 1], source)
                    args, kwargs = self._capture(index, batch_ids, batch_mask)
                    with torch.no_grad():
                        out = self.layers[index](states.to(self._layer_dtype()), *args[1:], **kwargs)
                    out = (out[0] if isinstance(out, tuple) else out).float().cpu().numpy()
                    writes.append(self._executor.submit(_write, target, start, out))
                    if index in layer_outs:
                        layer_outs[index][start:start + batch] = out
                    report("layer", index, n + 1)
                for write in writes:
                    write.result()
                self._free_layer(index)
                state["next_layer"] = index + 1
                self._save_state(state_path, state)
                result.layer_seconds.append(time.perf_counter() - layer_started)
            self._tail(acts[len(self.layers) % 2], ids, lengths, mask, batch, layer_outs, report)
        finally:
            self._free_all()
            for array in [*acts, *layer_outs.values()]:
                array.close()
        state["status"] = "finished"
        self._save_state(state_path, state)
        for path in [*(self.out_dir / f"activations-{i}.bin" for i in (0, 1)),
                     *(self.out_dir / f"hidden-{i}.bin" for i in self.layers_out)]:
            path.unlink(missing_ok=True)
        result.status, result.outputs = "finished", self.out_dir / OUTPUTS
        result.bytes_read = self.store.bytes_read - read_started
        result.seconds = time.perf_counter() - started
        report("done", len(self.layers), len(starts))
        return result

    def _layer_dtype(self) -> Any:
        import torch

        return getattr(torch, self.dtype_name)

    def _timed_read(self, index: int, result: SliResult) -> dict[str, Any]:
        began = time.perf_counter()
        tensors = self._read_layer(index)
        result.read_seconds += time.perf_counter() - began
        return tensors

    def _stopped(self, result: SliResult, started: float) -> SliResult:
        result.seconds = time.perf_counter() - started
        return result

    def _free_all(self) -> None:
        for index in range(len(self.layers)):
            self._free_layer(index)

    def _tail(self, last: Any, ids: Any, lengths: Any, mask: Any, batch: int, layer_outs: dict[int, Any],
              report: Callable[[str, int, int], None]) -> None:
        """hidden_last through the model's tail modules, the head's top-k, and the outputs file."""
        import numpy as np
        import torch

        samples, width = ids.shape
        hidden = last.shape[-1]
        tensors: dict[str, tuple[tuple[int, ...], str]] = {
            "input_ids": ((samples, width), "int64"), "lengths": ((samples,), "int64"),
            "hidden_last": ((samples, width, hidden), "float32")}
        for i in layer_outs:
            tensors[f"hidden_{i}"] = ((samples, width, hidden), "float32")
        head = None
        if self.top_k:
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
        writer.arrays["input_ids"][:] = ids
        writer.arrays["lengths"][:] = lengths
        for i, array in layer_outs.items():
            for start in range(0, samples, batch):
                writer.arrays[f"hidden_{i}"][start:start + batch] = array[start:start + batch]
        modules = [m for m in (resolve(self.model, p) for p in self.family.tail) if m is not None]
        softcap = getattr(self.config, "final_logit_softcapping", None)
        if head is not None:  # the head's logits (samples × length × vocabulary) are the tail's big allocation
            logits_bytes = width * int(self.config.vocab_size) * 4 * 3  # logits, exp for logsumexp, top-k scratch
            resident = self.store.total_bytes() - sum(self.store.bytes_under(self.family.layer_prefix(i))
                                                      for i in range(len(self.layers)))  # embeddings, norms, head
            spare = (self.memory_budget or _free_memory(self.device)) - resident
            batch = max(1, min(batch, spare // max(1, logits_bytes)))
        for n, start in enumerate(range(0, samples, batch)):
            states = torch.from_numpy(np.array(last[start:start + batch], dtype=np.float32)).to(self.device)
            with torch.no_grad():
                states = states.to(self._layer_dtype())
                for module in modules:
                    states = module(states)
                writer.arrays["hidden_last"][start:start + batch] = states.float().cpu().numpy()
                if head is not None:
                    logits = head(states).float()
                    if softcap:
                        logits = torch.tanh(logits / softcap) * softcap
                    values, indices = logits.topk(writer.arrays["topk_values"].shape[-1], dim=-1)
                    writer.arrays["topk_values"][start:start + batch] = values.cpu().numpy()
                    writer.arrays["topk_indices"][start:start + batch] = indices.cpu().numpy()
                    writer.arrays["logsumexp"][start:start + batch] = torch.logsumexp(logits, -1).cpu().numpy()
            report("tail", len(self.layers), min(n + 1, len(range(0, samples, batch))))
        writer.close()
        if head is not None:
            release(head)
        partial.rename(self.out_dir / OUTPUTS)

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


def _sha(ids: Any) -> str:
    return hashlib.sha256(ids.tobytes()).hexdigest()


def _first_record_has_ids(path: Path) -> bool:
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                try:
                    return "input_ids" in json.loads(line)
                except json.JSONDecodeError:
                    return False
    return False
