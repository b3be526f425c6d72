"""Keep a streaming pass's memory where its budget says.

A pass frees a layer's weights and its activations every few hundred milliseconds. glibc's allocator raises
its mmap threshold after such frees (up to 32 MiB), so later buffers of a few MiB come from heap arenas that
fragment and are seldom returned to the system; each I/O thread also gets an arena of its own. Measured on a
600 MiB pass (benchmarks/sli_pass.py), the resident set then grew layer by layer past the budget. A fixed
threshold (big buffers are mapped, and unmapped when freed) and two arenas keep it flat.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from typing import Any

_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
_done = False


def _libc() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def keep_heap_compact(mmap_threshold: int = 16 << 20, arenas: int = 2) -> bool:
    """Tune glibc malloc for this process (once; a no-op elsewhere). True when it was applied."""
    global _done
    if _done:
        return True
    libc = _libc()
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None:  # musl and other C libraries have no mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    _done = bool(mallopt(_M_MMAP_THRESHOLD, mmap_threshold)) and bool(mallopt(_M_ARENA_MAX, arenas))
    return _done


def give_back_free_memory() -> None:
    """Return the allocator's free pages to the system (glibc ``malloc_trim``; a no-op elsewhere): called after
    each layer, so what one layer's batches allocated does not stay resident through the next."""
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)
