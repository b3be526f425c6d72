"""Find model folders under some roots (plain folders and the Hugging Face cache), past any broken ones."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nexus_core.errors import NexusError
from nexus_core.models.detect import SAE_WEIGHTS, ModelFolderError, ModelInfo, hf_cache_name, inspect_model

# Folders that never hold models and can be huge; skipping them keeps a scan of a home folder sane.
_SKIP = {".git", "__pycache__", "node_modules", ".venv", "blobs", ".locks"}
_MAX_DEPTH = 12


@dataclass
class ScanResult:
    """Every model found, and every folder that looked like a model but could not be read."""

    models: list[ModelInfo] = field(default_factory=list)
    errors: list[tuple[Path, str]] = field(default_factory=list)


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache, honouring the same environment variables the hub library does."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    base = Path(os.environ["XDG_CACHE_HOME"]).expanduser() if os.environ.get("XDG_CACHE_HOME") else (
        Path.home() / ".cache")
    return base / "huggingface" / "hub"


def model_roots(settings: Any) -> list[Path]:
    """Where to look for models: the user's folders, then the Hugging Face cache when enabled."""
    roots = [Path(p).expanduser() for p in settings.model_folders]
    if settings.scan_hf_cache:
        roots.append(hf_cache_dir())
    return roots


def is_model_folder(names: set[str]) -> bool:
    """A folder is a model when it has a config the loaders understand (or SAE weights)."""
    return ("config.json" in names or "model_index.json" in names
            or any(n in names for n in SAE_WEIGHTS))


def scan_models(roots: list[Path]) -> ScanResult:
    """Walk ``roots``; a model folder is inspected and not descended into (diffusers components stay inside it)."""
    result = ScanResult()
    visited: set[Path] = set()
    for root in roots:
        _walk(Path(root), Path(root), 0, visited, result)
    return result


def _walk(root: Path, folder: Path, depth: int, visited: set[Path], result: ScanResult) -> None:
    try:
        real = folder.resolve(strict=True)
        if real in visited:
            return
        visited.add(real)
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
    except (OSError, RuntimeError) as exc:
        result.errors.append((folder, f"cannot read the folder: {exc}"))
        return
    names = {e.name for e in entries}
    if is_model_folder(names):
        try:
            info = inspect_model(folder)
            if depth > 1 and hf_cache_name(folder) is None:
                info.name = folder.relative_to(root).as_posix()  # "gemma-scope-2b/layer_12", not "layer_12"
            result.models.append(info)
        except ModelFolderError as exc:
            result.errors.append((exc.path or folder, exc.what))
        except (NexusError, OSError) as exc:
            result.errors.append((folder, str(exc)))
        return
    if depth >= _MAX_DEPTH:
        return
    for entry in entries:
        if entry.name in _SKIP:
            continue
        try:
            is_dir = entry.is_dir()
        except OSError:
            is_dir = False
        if is_dir:
            _walk(root, Path(entry.path), depth + 1, visited, result)
