"""Weights for layer streaming: the checkpoint's tensors indexed from the safetensors headers, read one layer
(or one expert) at a time, counted byte for byte, placed into the meta skeleton and released after use."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from nexus_core.models.devices import ModelLoadError
from nexus_core.models.streaming import TensorSource, _Reader, index_checkpoint, match_keys


class WeightStore:
    def __init__(self, folder: Path, model: Any) -> None:
        self.folder = folder
        files, self.sources = index_checkpoint(folder)
        if not files:
            raise ModelLoadError("The folder has no safetensors weights; layer streaming reads safetensors only.",
                                 kind="folder", path=folder,
                                 hint="Convert the checkpoint to safetensors (transformers' save_pretrained does).")
        names = {n for n, _ in model.named_parameters(remove_duplicate=False)}
        names |= {n for n, _ in model.named_buffers(remove_duplicate=False)}
        prefix = str(getattr(model, "base_model_prefix", "") or "")
        mapping, self.unmatched = match_keys(set(self.sources), names, prefix, _library_renames(model))
        self.to_model = mapping  # checkpoint key → model key
        self.to_checkpoint = {v: k for k, v in mapping.items()}
        self.bytes_read = 0
        self.pin_memory = False  # staging buffers in page-locked memory (set for a CUDA device)
        self._staging: dict[int, Any] = {}
        self._lock = threading.Lock()
        self._reader = _Reader()

    def close(self) -> None:
        self._reader.close()
        self._staging.clear()

    def total_bytes(self) -> int:
        return sum(s.end - s.start for s in self.sources.values())

    def model_keys_under(self, prefix: str) -> list[str]:
        return sorted(k for k in self.to_checkpoint if k.startswith(prefix))

    def bytes_under(self, prefix: str, checkpoint_prefix: str | None = None) -> int:
        """Checkpoint bytes of the model keys under ``prefix`` (plus unmatched keys under ``checkpoint_prefix``,
        e.g. a mixture-of-experts layer's per-expert tensors)."""
        total = sum(self.sources[self.to_checkpoint[k]].end - self.sources[self.to_checkpoint[k]].start
                    for k in self.model_keys_under(prefix))
        if checkpoint_prefix:
            total += sum(self.sources[k].end - self.sources[k].start for k in self.unmatched
                         if k.startswith(checkpoint_prefix))
        return total

    def read_checkpoint(self, key: str, dtype: Any) -> Any:
        """One tensor by its checkpoint name, read from disk (counted) and converted to ``dtype`` if floating."""
        source = self.sources.get(key)
        if source is None:
            raise ModelLoadError(f"The checkpoint has no tensor {key}.", kind="weights", path=self.folder,
                                 hint="The weights do not match config.json: download the model folder again.")
        with self._lock:
            tensor = self._reader.read(source)
            self.bytes_read += source.end - source.start
        return tensor.to(dtype) if tensor.dtype.is_floating_point and dtype is not None else tensor

    def read(self, model_keys: list[str], dtypes: dict[str, Any], *, staging: int | None = None) -> dict[str, Any]:
        """Tensors for ``model_keys`` (on the CPU, in the skeleton's dtypes). Tensors stored next to each other
        are read with one sequential read per run of them: a layer is usually one contiguous range.

        With ``staging`` the bytes land in that reusable buffer (pinned for a CUDA device) instead of fresh
        memory, whose first touch costs a page fault per page; the tensors are views of it until the caller
        frees them, so a slot may be reused only after the layer read into it was released."""
        import torch

        by_file: dict[Path, list[tuple[TensorSource, str]]] = {}
        for key in model_keys:
            source = self.sources[self.to_checkpoint[key]]
            by_file.setdefault(source.file, []).append((source, key))
        runs: list[tuple[Path, list[tuple[TensorSource, str]]]] = []
        for path, items in by_file.items():
            items.sort(key=lambda item: item[0].start)
            run: list[tuple[TensorSource, str]] = []
            for item in items:
                if run and item[0].start != run[-1][0].end:
                    runs.append((path, run))
                    run = []
                run.append(item)
            if run:
                runs.append((path, run))
        spans = [_aligned(run[-1][0].end - run[0][0].start) for _path, run in runs]
        buffer = self._staging_buffer(staging, sum(spans)) if staging is not None else None
        out: dict[str, Any] = {}
        offset = 0
        for (path, run), span in zip(runs, spans, strict=True):
            start, end = run[0][0].start, run[-1][0].end
            raw = self._read_range(path, start, end, None if buffer is None else buffer[offset:offset + end - start])
            offset += span
            for source, key in run:
                kind = getattr(torch, source.dtype)
                piece = raw[source.start - start:source.end - start]
                if (source.start - start) % torch.empty((), dtype=kind).element_size():
                    piece = piece.clone()  # a misaligned neighbour: this one gets its own storage
                view = piece.view(kind)
                tensor = view.reshape(source.shape) if source.shape else view.reshape(())
                dtype = dtypes.get(key)
                out[key] = tensor.to(dtype) if tensor.dtype.is_floating_point and dtype is not None else tensor
        return out

    def _staging_buffer(self, slot: int, size: int) -> Any:
        import torch

        buffer = self._staging.get(slot)
        if buffer is None or buffer.numel() < size:
            self._staging.pop(slot, None)
            buffer = torch.empty(size, dtype=torch.uint8, pin_memory=self.pin_memory)
            self._staging[slot] = buffer
        return buffer

    def drop_staging(self) -> None:
        self._staging.clear()

    def _read_range(self, path: Path, start: int, end: int, buffer: Any = None) -> Any:
        import torch

        if buffer is None:
            buffer = torch.empty(end - start, dtype=torch.uint8)
        view = memoryview(buffer.numpy())
        with self._lock:
            with path.open("rb", buffering=0) as handle:
                handle.seek(start)
                got = 0
                while got < len(view):
                    n = handle.readinto(view[got:])
                    if not n:
                        raise ModelLoadError(f"{path.name} is truncated.", kind="folder", path=path,
                                             hint="The download was interrupted: download it again.")
                    got += n
            self.bytes_read += end - start
        return buffer


def _aligned(size: int, to: int = 64) -> int:
    return -(-size // to) * to


def slot_dtypes(module: Any, prefix: str) -> dict[str, Any]:
    """The dtype each parameter/buffer of ``module`` has in the skeleton, by full model key."""
    found = {f"{prefix}{n}": p.dtype for n, p in module.named_parameters(remove_duplicate=False)}
    found.update({f"{prefix}{n}": b.dtype for n, b in module.named_buffers(remove_duplicate=False)})
    return found


def assign(module: Any, prefix: str, tensors: dict[str, Any], device: Any) -> None:
    """Put ``tensors`` (full model keys) into ``module`` (whose own names start after ``prefix``)."""
    import torch

    for key, tensor in tensors.items():
        owner = module
        *path, attr = key[len(prefix):].split(".")
        for part in path:
            owner = getattr(owner, part)
        value = tensor.to(device)
        if attr in owner._parameters:
            owner._parameters[attr] = torch.nn.Parameter(value, requires_grad=False)
        else:
            owner._buffers[attr] = value


def release(module: Any) -> None:
    """Drop a module's weights (back to the meta device); its buffers computed at build time stay."""
    import torch

    for sub in module.modules():
        for attr, param in list(sub._parameters.items()):
            if param is not None and param.device.type != "meta":
                sub._parameters[attr] = torch.nn.Parameter(param.to("meta"), requires_grad=False)


def _library_renames(model: Any) -> Any:
    """transformers' renames of legacy checkpoint names for this model (e.g. ``block_sparse_moe`` → ``mlp``);
    its tensor conversions (fused experts) are not applied: experts are read one by one instead."""
    try:
        from transformers.conversion_mapping import get_model_conversion_mapping
        from transformers.core_model_loading import WeightRenaming, apply_renamings
    except ImportError:
        return None
    try:
        renamings = [t for t in get_model_conversion_mapping(model) if isinstance(t, WeightRenaming)]
    except Exception:  # the mapping code can fail on skeletons it was not written for: plain names then
        return None
    return (lambda key: apply_renamings(key, renamings)) if renamings else None
