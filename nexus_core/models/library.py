"""The model library: the folders a person keeps models in, what a scan found there, and load/unload jobs.

The Models panel is a view over this object; the scan and the loads run as jobs on the job runner (so
they show in the Jobs dock with progress and can be cancelled), and ``changed`` tells views to refresh.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nexus_core.config import Settings
from nexus_core.events import Emitter
from nexus_core.jobs.context import JobContext
from nexus_core.models.detect import ModelInfo
from nexus_core.models.devices import ModelLoadError, gib
from nexus_core.models.loader import LoadedModel, LoadOutcome
from nexus_core.models.manager import ModelManager, model_key
from nexus_core.models.scan import hf_cache_dir, model_roots, scan_models
from nexus_core.models.support import SupportReport, is_model_supported


@dataclass(frozen=True)
class LibraryEntry:
    """One model found on disk, with the verdict on whether it can be loaded."""

    info: ModelInfo
    support: SupportReport


@dataclass
class ScanSummary:
    entries: list[LibraryEntry] = field(default_factory=list)
    errors: list[tuple[Path, str]] = field(default_factory=list)


class ModelLibrary:
    """Scans the model folders and loads models through the shared ModelManager."""

    def __init__(self, settings: Settings, save_settings: Callable[[], None], manager: ModelManager) -> None:
        self.settings = settings
        self._save_settings = save_settings
        self.manager = manager
        self._lock = threading.Lock()
        self._scan = ScanSummary()
        self._failures: dict[Path, LoadOutcome] = {}
        self.scanned_once = False
        self.changed: Emitter[None] = Emitter("models.library")

    # ---- folders ---------------------------------------------------------------------------------

    def folders(self) -> list[Path]:
        return [Path(p) for p in self.settings.model_folders]

    def add_folder(self, folder: Path | str) -> bool:
        """Remember a folder to scan; False when it is already there."""
        path = Path(folder).expanduser()
        if any(model_key(p) == model_key(path) for p in self.folders()):
            return False
        self.settings.model_folders = [*self.settings.model_folders, path]
        self._save_settings()
        self.changed.emit(None)
        return True

    def remove_folder(self, folder: Path | str) -> bool:
        key = model_key(folder)
        kept = [p for p in self.settings.model_folders if model_key(p) != key]
        if len(kept) == len(self.settings.model_folders):
            return False
        self.settings.model_folders = kept
        self._save_settings()
        self.changed.emit(None)
        return True

    def roots(self) -> list[Path]:
        return model_roots(self.settings)

    # ---- scanning --------------------------------------------------------------------------------

    def scan(self, ctx: JobContext | None = None) -> ScanSummary:
        """Walk every root (a missing user folder is reported; a missing HF cache just means none) and judge
        each model found."""
        summary = ScanSummary()
        roots = self.roots()
        cache = hf_cache_dir()
        existing = []
        for root in roots:
            if root.is_dir():
                existing.append(root)
            elif root != cache:
                summary.errors.append((root, "the folder does not exist (any more)"))
        if ctx is not None:
            ctx.progress(None, f"Scanning {len(existing)} folder(s)")
        result = scan_models(existing)
        summary.errors += result.errors
        for n, info in enumerate(result.models, 1):
            if ctx is not None:
                ctx.check()
                ctx.progress(n / len(result.models), f"Checking {info.name}")
            summary.entries.append(LibraryEntry(info, is_model_supported(info)))
        summary.entries.sort(key=lambda e: e.info.name.lower())
        if ctx is not None:
            problems = f", {len(summary.errors)} unreadable" if summary.errors else ""
            ctx.progress(1.0, f"Found {len(summary.entries)} model(s){problems}")
        with self._lock:
            self._scan = summary
            self.scanned_once = True
        self.changed.emit(None)
        return summary

    def entries(self) -> list[LibraryEntry]:
        with self._lock:
            return list(self._scan.entries)

    def errors(self) -> list[tuple[Path, str]]:
        with self._lock:
            return list(self._scan.errors)

    # ---- loading ---------------------------------------------------------------------------------

    def load(self, ctx: JobContext | None, path: Path | str, *, device: str = "auto", dtype: str = "auto",
             trust_remote_code: bool = False, memory_budget: int | None = None) -> dict[str, Any]:
        """Job body: load through the manager with byte progress; a failure is kept for the details pane."""
        key = model_key(path)

        def progress(done: int, total: int) -> None:
            if ctx is not None:
                ctx.progress(done / total if total else None, f"{gib(done)} of {gib(total)} on the device")

        with self._lock:
            self._failures.pop(key, None)
        try:
            loaded = self.manager.load(path, device=device, dtype=dtype, trust_remote_code=trust_remote_code,
                                       memory_budget=memory_budget, progress=progress)
        except ModelLoadError as exc:
            with self._lock:
                self._failures[key] = LoadOutcome(kind=exc.kind, message=exc.what,
                                                  path=str(exc.path) if exc.path else None, hint=exc.hint)
            self.changed.emit(None)
            raise
        return loaded.summary()

    def unload(self, path: Path | str) -> bool:
        return self.manager.unload(path)

    def loaded(self, path: Path | str) -> LoadedModel | None:
        return self.manager.get(path)

    def failure(self, path: Path | str) -> LoadOutcome | None:
        with self._lock:
            return self._failures.get(model_key(path))
