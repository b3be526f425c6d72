"""The models loaded in this process: one place that loads, shares and frees them.

The Models panel and the local chat provider both go through it, so a model loaded in the panel is the
one the chat uses (not a second copy), and unloading it in the panel really frees the memory: holders
register a release callback and drop their references when it fires.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from nexus_core.events import Emitter
from nexus_core.memory import release_memory
from nexus_core.models.loader import LoadedModel, Progress, load_model

log = logging.getLogger(__name__)


@dataclass
class _Slot:
    lock: threading.Lock = field(default_factory=threading.Lock)
    loaded: LoadedModel | None = None
    releases: list[Callable[[], None]] = field(default_factory=list)


def model_key(path: Path | str) -> Path:
    """One key per folder however it is spelled (relative, ``~``, symlinked)."""
    return Path(path).expanduser().resolve()


class ModelManager:
    """Loads each folder once; ``changed`` fires after every load and unload (from the thread that did it)."""

    def __init__(self, search_roots: Callable[[], list[Path]] | None = None) -> None:
        self._slots: dict[Path, _Slot] = {}
        self._lock = threading.Lock()
        self._search_roots = search_roots or (lambda: [])
        self.changed: Emitter[None] = Emitter("models.changed")

    def _slot(self, key: Path) -> _Slot:
        with self._lock:
            return self._slots.setdefault(key, _Slot())

    def get(self, path: Path | str) -> LoadedModel | None:
        with self._lock:
            slot = self._slots.get(model_key(path))
        return slot.loaded if slot else None

    def loaded(self) -> list[LoadedModel]:
        with self._lock:
            return [s.loaded for s in self._slots.values() if s.loaded is not None]

    def load(self, path: Path | str, *, device: str = "auto", dtype: str = "auto", trust_remote_code: bool = False,
             memory_budget: int | None = None, progress: Progress | None = None,
             on_release: Callable[[], None] | None = None) -> LoadedModel:
        """The folder's model, loading it on first use; a second caller waits for the first load, never repeats it.

        ``on_release`` is called when the model is unloaded, so the caller can drop its references.
        """
        slot = self._slot(model_key(path))
        with slot.lock:
            fresh = slot.loaded is None
            if fresh:
                slot.loaded = load_model(path, device=device, dtype=dtype, trust_remote_code=trust_remote_code,
                                         memory_budget=memory_budget, search_roots=self._search_roots(),
                                         progress=progress)
            if on_release is not None:
                slot.releases.append(on_release)
            loaded = slot.loaded
        if fresh:
            self.changed.emit(None)
        return loaded

    def unload(self, path: Path | str) -> bool:
        """Free the folder's model: holders are told to let go, then memory is returned (GPU cache included)."""
        slot = self._slot(model_key(path))
        with slot.lock:
            loaded, slot.loaded = slot.loaded, None
            releases, slot.releases = slot.releases, []
        if loaded is None:
            return False
        for release in releases:
            try:
                release()
            except Exception:  # a holder failing to let go must not keep the others from it
                log.exception("a release callback for %s failed", loaded.info.name)
        on_gpu = loaded.device.startswith("cuda")
        del loaded
        release_memory(cuda=on_gpu)
        self.changed.emit(None)
        return True

    def unload_all(self) -> None:
        with self._lock:
            keys = [k for k, s in self._slots.items() if s.loaded is not None]
        for key in keys:
            self.unload(key)

