"""Large arrays on disk: memory-mapped working files (allocated up front, so a full disk is an error at the
start, not a crash halfway) and a safetensors file written in place, tensor by tensor, batch by batch."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any

SAFETENSORS_DTYPES = {"float32": "F32", "float16": "F16", "bfloat16": "BF16", "int64": "I64", "int32": "I32"}


def allocate(path: Path, size: int) -> None:
    """Create ``path`` with ``size`` bytes really reserved on disk (OSError ENOSPC when it does not fit)."""
    with path.open("wb") as handle:
        if size and hasattr(os, "posix_fallocate"):
            os.posix_fallocate(handle.fileno(), 0, size)
        elif size:
            handle.truncate(size)


def working_array(path: Path, shape: tuple[int, ...], dtype: str, *, create: bool) -> Any:
    """A numpy memmap of ``shape`` (created and allocated when ``create``)."""
    import numpy as np

    size = int(np.prod(shape)) * np.dtype(dtype).itemsize
    if create or not path.exists() or path.stat().st_size != size:
        allocate(path, size)
    return np.memmap(path, dtype=dtype, mode="r+", shape=shape)


class SafetensorsWriter:
    """A safetensors file whose header is written first; each tensor is then a writable memmap."""

    def __init__(self, path: Path, tensors: dict[str, tuple[tuple[int, ...], str]],
                 metadata: dict[str, str] | None = None) -> None:
        import numpy as np

        self.path = path
        header: dict[str, Any] = {"__metadata__": metadata or {}}
        offset = 0
        for name, (shape, dtype) in tensors.items():
            size = int(np.prod(shape)) * np.dtype(dtype).itemsize
            header[name] = {"dtype": SAFETENSORS_DTYPES[dtype], "shape": list(shape), "data_offsets": [offset,
                                                                                                      offset + size]}
            offset += size
        raw = json.dumps(header, separators=(",", ":")).encode()
        raw += b" " * (-len(raw) % 8)  # keep the data 8-byte aligned
        self.data_start = 8 + len(raw)
        allocate(path, self.data_start + offset)
        with path.open("r+b") as handle:
            handle.write(struct.pack("<Q", len(raw)) + raw)
        self.arrays = {name: np.memmap(path, dtype=dtype, mode="r+", shape=shape,
                                       offset=self.data_start + header[name]["data_offsets"][0])
                       for name, (shape, dtype) in tensors.items()}

    def flush(self) -> None:
        for array in self.arrays.values():
            array.flush()
