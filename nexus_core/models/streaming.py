"""Build a model with no weights, then stream safetensors tensors one at a time onto the target device.

Why not ``from_pretrained(...).to(device)``: that path holds the whole model in host RAM on the way to
the GPU (twice over when it converts the dtype). Here the skeleton's parameters live on the ``meta``
device (no memory), and each tensor is read from disk into one staging buffer, converted, and moved:
host RAM holds at most one tensor in flight. On the CPU with no dtype change the tensor is the file's
memory map itself, so nothing is copied at all.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nexus_core.models.detect import ModelFolderError, read_json, read_safetensors_header
from nexus_core.models.devices import ModelLoadError

_TORCH_DTYPES = {"F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16", "I64": "int64",
                 "I32": "int32", "I16": "int16", "I8": "int8", "U8": "uint8", "BOOL": "bool",
                 "F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2"}
_MISMATCH_HINT = ("The weights do not belong to this config.json: re-download the model folder, or restore the "
                  "config.json that came with these weights.")

_meta_flag = threading.local()
_patch_lock = threading.Lock()
_patched = False


@dataclass(frozen=True)
class TensorSource:
    """Where one tensor's bytes are: file, absolute byte range, stored dtype and shape."""

    file: Path
    key: str
    dtype: str
    shape: tuple[int, ...]
    start: int
    end: int


@dataclass
class StreamReport:
    """What streaming did: counts for the load summary, leftovers for the cascade to judge the class by."""

    loaded: int = 0
    bytes_read: int = 0
    largest_tensor: int = 0
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)


def _install_patch() -> None:
    """Wrap ``Module.register_parameter`` once; it only acts on threads inside ``parameters_on_meta``."""
    global _patched
    import torch

    with _patch_lock:
        if _patched:
            return
        original = torch.nn.Module.register_parameter

        def register_parameter(self: Any, name: str, param: Any) -> None:
            original(self, name, param)
            if param is not None and getattr(_meta_flag, "on", False) and param.device.type != "meta":
                stored = self._parameters[name]
                self._parameters[name] = type(stored)(stored.to("meta"), requires_grad=stored.requires_grad)

        torch.nn.Module.register_parameter = register_parameter
        _patched = True


@contextlib.contextmanager
def parameters_on_meta() -> Iterator[None]:
    """Modules built inside this block (on this thread) get ``meta`` parameters; buffers stay real.

    Buffers stay real because many are computed in ``__init__`` (rotary frequencies) and are not in the
    checkpoint; they are small.
    """
    _install_patch()
    previous = getattr(_meta_flag, "on", False)
    _meta_flag.on = True
    try:
        yield
    finally:
        _meta_flag.on = previous


def checkpoint_files(folder: Path) -> list[Path]:
    """The safetensors files of a folder: the shards its index names, else every top-level ``*.safetensors``."""
    indexes = sorted(folder.glob("*.safetensors.index.json"))
    if indexes:
        weight_map = read_json(indexes[0]).get("weight_map") or {}
        names = sorted(set(map(str, weight_map.values())))
        missing = [n for n in names if not (folder / n).is_file()]
        if missing:
            raise ModelLoadError(f"Shard {missing[0]} is named in {indexes[0].name} but missing"
                                 + (f" (and {len(missing) - 1} more)." if len(missing) > 1 else "."),
                                 kind="folder", path=folder / missing[0],
                                 hint="The download was interrupted: download the model folder again.")
        return [folder / n for n in names]
    return sorted(p for p in folder.glob("*.safetensors") if p.is_file())


def index_tensors(files: list[Path]) -> dict[str, TensorSource]:
    """Every tensor of every file by key, from the headers only; truncated files are caught here."""
    sources: dict[str, TensorSource] = {}
    for path in files:
        try:
            header, header_len, size = read_safetensors_header(path)
        except ModelFolderError as exc:
            raise ModelLoadError(exc.what, kind="folder", path=exc.path, hint=exc.hint) from exc
        base = 8 + header_len
        for key, meta in header.items():
            if key == "__metadata__" or not isinstance(meta, dict):
                continue
            begin, end = (int(x) for x in meta.get("data_offsets", (0, 0)))
            if base + end > size:
                raise ModelLoadError(f"{path.name} is truncated: tensor {key} needs bytes up to {base + end}, the "
                                     f"file has {size}.", kind="folder", path=path,
                                     hint="The download was interrupted: download this file again.")
            dtype = _TORCH_DTYPES.get(str(meta.get("dtype")))
            if dtype is None:
                raise ModelLoadError(f"{path.name}: tensor {key} has dtype {meta.get('dtype')!r}, which this loader "
                                     "cannot read.", kind="folder", path=path, hint=_MISMATCH_HINT)
            sources[key] = TensorSource(path, key, dtype, tuple(int(n) for n in meta.get("shape", ())),
                                        base + begin, base + end)
    return sources


def index_checkpoint(folder: Path) -> tuple[list[Path], dict[str, TensorSource]]:
    """The folder's safetensors files and every tensor in them, with the shard index checked against the
    files' headers: a tensor the index places in a shard that does not hold it is an error now, not when it is
    first read."""
    files = checkpoint_files(folder)
    sources = index_tensors(files) if files else {}
    indexes = sorted(folder.glob("*.safetensors.index.json"))
    if files and indexes:
        weight_map = read_json(indexes[0]).get("weight_map") or {}
        wrong = [(key, str(shard)) for key, shard in weight_map.items()
                 if key not in sources or sources[key].file.name != str(shard)]
        if wrong:
            key, shard = wrong[0]
            found = sources.get(key) or index_tensors(
                [p for p in sorted(folder.glob("*.safetensors")) if p not in files]).get(key)
            where = f"it is in {found.file.name}" if found else "no shard holds it"
            more = f" ({len(wrong) - 1} more tensors disagree too)" if len(wrong) > 1 else ""
            raise ModelLoadError(f"{indexes[0].name} places tensor {key} in {shard}, but {where}{more}.",
                                 kind="folder", path=folder / indexes[0].name,
                                 hint="The index and the shards come from different downloads: download the model "
                                      "folder again.")
    return files, sources


Rename = Callable[[str], str]


def match_keys(checkpoint: set[str], model: set[str], prefix: str,
               rename: Rename | None = None) -> tuple[dict[str, str], list[str]]:
    """Map checkpoint keys onto model keys: renamed first (a library's legacy names), then the base-model prefix
    added or stripped when one side has it.

    A checkpoint saved from ``LlamaModel`` has ``layers.0...`` where ``LlamaForCausalLM`` wants
    ``model.layers.0...``, and the other way round; everything else must match exactly.
    """
    mapping: dict[str, str] = {}
    unexpected: list[str] = []
    dotted = f"{prefix}." if prefix else ""
    for original in sorted(checkpoint):
        key = rename(original) if rename else original
        if key in model:
            mapping[original] = key
        elif dotted and f"{dotted}{key}" in model:
            mapping[original] = f"{dotted}{key}"
        elif dotted and key.startswith(dotted) and key[len(dotted):] in model:
            mapping[original] = key[len(dotted):]
        else:
            unexpected.append(original)
    return mapping, unexpected


def _slots(model: Any) -> dict[str, tuple[Any, str, bool]]:
    """name -> (owning module, attribute, is_parameter) for every parameter and buffer, tied names included."""
    slots: dict[str, tuple[Any, str, bool]] = {}
    for module_name, module in model.named_modules(remove_duplicate=False):
        prefix = f"{module_name}." if module_name else ""
        for attr, value in module._parameters.items():
            if value is not None:
                slots[prefix + attr] = (module, attr, True)
        for attr, value in module._buffers.items():
            if value is not None and attr not in module._non_persistent_buffers_set:
                slots[prefix + attr] = (module, attr, False)
    return slots


class _Reader:
    """Reads tensors: zero-copy memory maps when nothing needs converting, else one staging buffer at a time."""

    def __init__(self) -> None:
        self._files: dict[Path, Any] = {}
        self._maps: dict[Path, Any] = {}

    def close(self) -> None:
        for fh in self._files.values():
            fh.close()
        self._files.clear()
        self._maps.clear()  # mapped tensors keep their own reference to the mapping

    def mapped(self, source: TensorSource) -> Any:
        from safetensors import safe_open

        handle = self._maps.get(source.file)
        if handle is None:
            handle = self._maps[source.file] = safe_open(str(source.file), framework="pt", device="cpu")
        return handle.get_tensor(source.key)

    def read(self, source: TensorSource) -> Any:
        import torch

        fh = self._files.get(source.file)
        if fh is None:
            fh = self._files[source.file] = source.file.open("rb", buffering=0)
        buffer = torch.empty(source.end - source.start, dtype=torch.uint8)
        fh.seek(source.start)
        view = memoryview(buffer.numpy())
        got = 0
        while got < len(view):
            n = fh.readinto(view[got:])
            if not n:
                raise ModelLoadError(f"{source.file.name} is truncated inside tensor {source.key}.", kind="folder",
                                     path=source.file, hint="The download was interrupted: download it again.")
            got += n
        if not source.shape:
            return buffer.view(getattr(torch, source.dtype)).reshape(())
        return buffer.view(getattr(torch, source.dtype)).reshape(source.shape)


@dataclass
class KeyPlan:
    """How checkpoint keys land on a skeleton, worked out before any tensor is read."""

    mapping: dict[str, str]
    unexpected: list[str]
    missing: list[str]


def plan_keys(model: Any, sources: dict[str, TensorSource], rename: Rename | None = None) -> KeyPlan:
    """Which model tensors the checkpoint fills; a parameter tied to a filled one (shared object) counts as filled."""
    slots = _slots(model)
    prefix = str(getattr(model, "base_model_prefix", "") or "")
    mapping, unexpected = match_keys(set(sources), set(slots), prefix, rename)
    filled = {id(_slot_value(slots[k])) for k in mapping.values()}
    missing = sorted(name for name, p in model.named_parameters(remove_duplicate=False) if id(p) not in filled)
    return KeyPlan(mapping, unexpected, missing)


def _slot_value(slot: tuple[Any, str, bool]) -> Any:
    module, attr, is_param = slot
    return module._parameters[attr] if is_param else module._buffers[attr]


def stream_weights(model: Any, sources: dict[str, TensorSource], device: str, *, rename: Rename | None = None,
                   progress: Callable[[int, int], None] | None = None) -> StreamReport:
    """Fill ``model``'s meta parameters from ``sources`` on ``device``; shapes are checked against the config.

    Floating tensors take the dtype the skeleton was built with (which honours modules a model keeps in
    float32); integer tensors keep theirs. Leftover real buffers follow the model to ``device``.
    """
    import torch

    slots = _slots(model)
    plan = plan_keys(model, sources, rename)
    report = StreamReport(unexpected=plan.unexpected)
    total = sum(sources[k].end - sources[k].start for k in plan.mapping)
    target = torch.device(device)
    reader = _Reader()
    try:
        for ckpt_key, model_key in plan.mapping.items():
            source = sources[ckpt_key]
            module, attr, is_param = slots[model_key]
            current = _slot_value(slots[model_key])
            if tuple(current.shape) != source.shape:
                target_name = "it" if model_key == ckpt_key else model_key
                raise ModelLoadError(f"{source.file.name}: tensor {ckpt_key} has shape {list(source.shape)}, but "
                                     f"config.json makes {target_name} {list(current.shape)}.", kind="weights",
                                     path=source.file, hint=_MISMATCH_HINT)
            stored = getattr(torch, source.dtype)
            want = current.dtype if (stored.is_floating_point and current.dtype.is_floating_point) else stored
            if target.type == "cpu" and want == stored:
                tensor = reader.mapped(source)
            else:
                tensor = reader.read(source).to(device=target, dtype=want)
            if is_param:
                module._parameters[attr] = torch.nn.Parameter(tensor, requires_grad=current.requires_grad)
            else:
                module._buffers[attr] = tensor
            size = source.end - source.start
            report.loaded += 1
            report.bytes_read += size
            report.largest_tensor = max(report.largest_tensor, size)
            if progress is not None:
                progress(report.bytes_read, total)
    finally:
        reader.close()
    for module in model.modules():
        for attr, buf in list(module._buffers.items()):
            if buf is not None and buf.device.type != "meta" and buf.device != target:
                module._buffers[attr] = buf.to(target)
    if hasattr(model, "tie_weights"):
        model.tie_weights()
    report.missing = sorted(name for name, p in model.named_parameters() if p.device.type == "meta")
    return report
