"""A layer-streaming pass's outputs as a distillation teacher: a teacher larger than memory ran once over the
data (``nexus sli run --top-k K``); its top-K logits and log-normaliser stand in for it while a student trains.

The samples are the pass's rows (its ``input_ids`` and ``lengths``), one training block each, in the run's
order. At temperature 1 the log-probabilities are exact (logit − logsumexp); at another temperature the
top-K logits are renormalised among themselves (the pass kept the normaliser at temperature 1 only).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nexus_core.errors import NexusError

OUTPUTS = "outputs.safetensors"
NEEDED = ("input_ids", "lengths", "topk_values", "topk_indices", "logsumexp")


class SliCacheError(NexusError):
    """The folder is not a usable layer-streaming output."""


def _open(folder: Path) -> Any:
    from safetensors import safe_open

    path = folder / OUTPUTS
    if not path.is_file():
        raise SliCacheError("The folder has no outputs.safetensors from a finished layer-streaming pass.",
                            path=folder, hint="Run: nexus sli run --model TEACHER --data … --out DIR --top-k 32")
    try:
        handle = safe_open(str(path), framework="pt", device="cpu")
    except Exception as exc:  # safetensors raises its own error types for damaged files
        raise SliCacheError(f"outputs.safetensors cannot be read: {exc}", path=path,
                            hint="Run the pass again.") from None
    present = set(handle.keys())
    if "decoder_input_ids" in present:
        raise SliCacheError("outputs.safetensors comes from an encoder-decoder (T5) pass: its logits follow the "
                            "decoder's targets, not the token blocks a causal student trains on.", path=path,
                            hint="Use a decoder-only teacher's pass, or the teacher folder itself.")
    missing = [k for k in NEEDED if k not in present]
    if missing:
        raise SliCacheError(f"outputs.safetensors lacks {', '.join(missing)}.", path=path,
                            hint="Run the pass with --top-k K to keep the teacher's top-k logits.")
    return handle


def sample_rows(folder: Path, max_length: int) -> list[list[int]]:
    """Each sample's token ids (cut to ``max_length``), in the pass's order."""
    handle = _open(folder)
    ids, lengths = handle.get_tensor("input_ids"), handle.get_tensor("lengths")
    return [ids[i, : int(lengths[i])][:max_length].tolist() for i in range(ids.shape[0])]


class SliTeacherOutputs:
    """Top-k teacher log-probabilities for training blocks (block i is sample ``order[i]``)."""

    def __init__(self, folder: Path, order: list[int], temperature: float) -> None:
        handle = _open(folder)
        self.values = handle.get_tensor("topk_values")
        self.indices = handle.get_tensor("topk_indices")
        self.lse = handle.get_tensor("logsumexp")
        self.order = order
        self.temperature = temperature

    @property
    def top_k(self) -> int:
        return int(self.values.shape[-1])

    def rows(self, start: int, count: int, width: int, device: str) -> tuple[Any, Any]:
        return self.rows_for(self.order[start:start + count], width, device)

    def rows_for(self, samples: list[int], width: int, device: str) -> tuple[Any, Any]:
        import torch

        values = self.values[samples, :width].float()
        if self.temperature == 1.0:
            logprobs = values - self.lse[samples, :width, None]
        else:
            logprobs = torch.log_softmax(values / self.temperature, dim=-1)
        return logprobs.to(device), self.indices[samples, :width].long().to(device)
