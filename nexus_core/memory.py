"""Giving memory back after a model, a teacher or a failed generation lets go of it.

Which thread may run the garbage collector is the host's choice: the desktop app runs it only on its GUI thread (a
Qt object in a reference cycle destroyed on a worker thread can crash the app) and installs its own collector here;
the command line and the server collect where they are.
"""

from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Callable

_lock = threading.Lock()
_collector: Callable[[], None] | None = None


def set_garbage_collector(collector: Callable[[], None] | None) -> None:
    """Route ``collect_garbage`` through ``collector`` (None: collect on the calling thread)."""
    global _collector
    with _lock:
        _collector = collector


def collect_garbage() -> None:
    collector = _collector
    if collector is None:
        gc.collect()
    else:
        collector()


def release_memory(*, cuda: bool = True) -> None:
    """Collect garbage, then hand PyTorch's cached CUDA blocks back to the driver (when torch is already loaded:
    this never imports it)."""
    collect_garbage()
    torch = sys.modules.get("torch")
    if cuda and torch is not None:
        try:
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except Exception:  # a driver that went away must not turn a clean-up into an error
            pass
