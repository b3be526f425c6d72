"""Large arrays on disk, read and written by rows: working files (allocated up front, so a full disk is an
error at the start, not a crash halfway) and a safetensors file written in place, tensor by tensor."""

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


class WorkingArray:
    """An array on disk read and written by rows with positioned I/O (no memory map: the pages it passes
    through stay in the page cache, reclaimable, instead of counting as this process's memory)."""

    def __init__(self, path: Path, shape: tuple[int, ...], dtype: str, offset: int = 0) -> None:
        import numpy as np

        self.path, self.shape, self.dtype, self.offset = path, shape, np.dtype(dtype), offset
        self.row_bytes = int(np.prod(shape[1:])) * self.dtype.itemsize
        self._fd = os.open(path, os.O_RDWR)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows: slice) -> Any:
        import numpy as np

        start, stop, _ = rows.indices(self.shape[0])
        count = max(0, stop - start)
        data = os.pread(self._fd, count * self.row_bytes, self.offset + start * self.row_bytes)
        return np.frombuffer(data, dtype=self.dtype).reshape((count, *self.shape[1:]))

    def __setitem__(self, rows: slice, values: Any) -> None:
        import numpy as np

        start, _stop, _ = rows.indices(self.shape[0])
        data = np.ascontiguousarray(values, dtype=self.dtype).tobytes()
        view, offset = memoryview(data), self.offset + start * self.row_bytes
        while view:
            written = os.pwrite(self._fd, view, offset)
            view, offset = view[written:], offset + written

    def flush(self) -> None:
        """Nothing is buffered here; the data is in the page cache once written."""

    def close(self) -> None:
        os.close(self._fd)


def working_array(path: Path, shape: tuple[int, ...], dtype: str, *, create: bool) -> WorkingArray:
    """A row-addressed array file of ``shape`` (created and allocated when ``create``)."""
    import numpy as np

    size = int(np.prod(shape)) * np.dtype(dtype).itemsize
    if create or not path.exists() or path.stat().st_size != size:
        allocate(path, size)
    return WorkingArray(path, shape, dtype)


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
        self.arrays = {name: WorkingArray(path, shape, dtype, self.data_start + header[name]["data_offsets"][0])
                       for name, (shape, dtype) in tensors.items()}

    def close(self) -> None:
        for array in self.arrays.values():
            array.close()
