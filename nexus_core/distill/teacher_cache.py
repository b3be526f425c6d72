"""The offline teacher cache: each training block's top-k teacher log-probabilities, computed once, so the
teachers need not stay in memory while the student trains.

Layout (in ``<run dir>/teacher_cache/``): ``logprobs.npy`` (blocks × positions × k, float16, at the run's
temperature), ``indices.npy`` (the same shape, int32 token ids) and ``cache.json`` (what it was built from).
It is written into a ``.partial`` folder and renamed when complete, so a stopped build is simply redone;
a cache built from other teachers, data or settings is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nexus_core.atomic import atomic_write_text

FOLDER = "teacher_cache"
FORMAT = "nexus-teacher-cache"
VERSION = 1

Blocks = list[tuple[list[int], str]]


def cache_key(*, teachers: dict[str, str], top_k: int, temperature: float, vocab: int, blocks: Blocks) -> str:
    """A fingerprint of everything the cached numbers depend on (teacher folders, settings, the exact tokens)."""
    digest = hashlib.sha256(json.dumps({"teachers": teachers, "top_k": top_k, "temperature": temperature,
                                        "vocab": vocab}, sort_keys=True).encode())
    for ids, domain in blocks:
        digest.update(domain.encode() + b"\0" + b",".join(str(i).encode() for i in ids) + b"\n")
    return digest.hexdigest()


@dataclass
class TeacherCache:
    folder: Path
    logprobs: Any  # numpy memmap, read-only
    indices: Any

    @property
    def top_k(self) -> int:
        return int(self.logprobs.shape[-1])

    @classmethod
    def open(cls, run_dir: Path, key: str) -> TeacherCache | None:
        """The complete cache built for ``key``, or None (missing, stale or damaged: it will be rebuilt)."""
        import numpy as np

        folder = run_dir / FOLDER
        try:
            manifest = json.loads((folder / "cache.json").read_text(encoding="utf-8"))
            if manifest.get("format") != FORMAT or manifest.get("version") != VERSION or manifest.get("key") != key:
                return None
            logprobs = np.load(folder / "logprobs.npy", mmap_mode="r")
            indices = np.load(folder / "indices.npy", mmap_mode="r")
        except (OSError, ValueError, json.JSONDecodeError):
            return None
        if logprobs.shape != indices.shape or logprobs.shape[0] != manifest.get("blocks"):
            return None
        return cls(folder, logprobs, indices)

    @classmethod
    def build(cls, run_dir: Path, key: str, blocks: Blocks, *, top_k: int, temperature: float, vocab: int,
              batch_size: int, teacher_logits: Callable[[Blocks], tuple[Any, list[int]]],
              progress: Callable[[int, int], None] | None = None) -> TeacherCache:
        """Run the teachers over every block and keep the top-k log-probabilities of the first ``vocab`` tokens
        at ``temperature``. ``teacher_logits(chunk)`` gives the logits of each block's predicting positions
        (N × V, blocks one after another) and how many belong to each block."""
        import numpy as np
        import torch
        import torch.nn.functional as F  # noqa: N812

        folder = run_dir / FOLDER
        partial = folder.with_name(FOLDER + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        width = max(len(ids) for ids, _ in blocks)
        shape = (len(blocks), width, top_k)
        logprobs = np.lib.format.open_memmap(partial / "logprobs.npy", mode="w+", dtype=np.float16, shape=shape)
        indices = np.lib.format.open_memmap(partial / "indices.npy", mode="w+", dtype=np.int32, shape=shape)
        with torch.no_grad():
            for start in range(0, len(blocks), batch_size):
                chunk = blocks[start:start + batch_size]
                logits, counts = teacher_logits(chunk)
                values, ids = F.log_softmax(logits[..., :vocab].float() / temperature, dim=-1).topk(top_k, dim=-1)
                for row, (piece, piece_ids) in enumerate(zip(values.split(counts), ids.split(counts), strict=True)):
                    logprobs[start + row, :len(piece)] = piece.cpu().numpy().astype(np.float16)
                    indices[start + row, :len(piece)] = piece_ids.cpu().numpy().astype(np.int32)
                if progress is not None:
                    progress(start + len(chunk), len(blocks))
        logprobs.flush()
        indices.flush()
        del logprobs, indices
        atomic_write_text(partial / "cache.json", json.dumps({
            "format": FORMAT, "version": VERSION, "key": key, "blocks": len(blocks), "top_k": top_k,
            "temperature": temperature, "vocab": vocab}, indent=1))
        shutil.rmtree(folder, ignore_errors=True)
        partial.rename(folder)
        opened = cls.open(run_dir, key)
        assert opened is not None
        return opened

    def rows(self, start: int, count: int, width: int, device: str) -> tuple[Any, Any]:
        """(log-probabilities, token ids) for blocks ``start … start+count``, cut to ``width`` positions."""
        import numpy as np
        import torch

        values = np.asarray(self.logprobs[start:start + count, :width], dtype=np.float32)
        ids = np.asarray(self.indices[start:start + count, :width], dtype=np.int64)
        return torch.from_numpy(values).to(device), torch.from_numpy(ids).to(device)
