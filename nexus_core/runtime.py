"""Versions of the libraries the app runs on, read without importing the heavy ones.

Heavy libraries (torch, transformers, diffusers, TTS) are imported only by the feature that needs
them, inside the function that needs them; ``torch_runtime`` is such a function.
"""

from __future__ import annotations

import platform
import sys
from importlib import metadata
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[1])  # so the child imports this checkout's nexus_core
KEY_DISTRIBUTIONS = ("PySide6-Essentials", "pyqtgraph", "pydantic", "psutil", "nvidia-ml-py", "torch",
                     "transformers", "diffusers", "coqui-tts", "openai", "anthropic")


def installed_versions(names: tuple[str, ...] = KEY_DISTRIBUTIONS) -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def torch_runtime() -> dict[str, object]:
    """Imports torch (seconds): whether CUDA works and on which devices. Call only off the GUI thread."""
    try:
        import torch
    except ImportError as exc:
        return {"installed": False, "error": str(exc)}
    info: dict[str, object] = {"installed": True, "version": torch.__version__,
                               "cuda_available": torch.cuda.is_available(), "cuda_version": torch.version.cuda}
    if torch.cuda.is_available():
        info["devices"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return info


def torch_runtime_isolated(timeout_s: float = 180.0) -> dict[str, object]:
    """``torch_runtime`` in a child process: the GUI's process neither stalls on the import (hundreds of ms of held
    interpreter lock) nor keeps torch loaded for a check."""
    import json
    import subprocess

    code = "import json; from nexus_core.runtime import torch_runtime; print(json.dumps(torch_runtime()))"
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout_s,
                              cwd=_ROOT)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"installed": False, "error": f"the check could not run ({exc})"}
    try:
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        tail = (done.stderr or "").strip().splitlines()[-1:] or ["no output"]
        return {"installed": False, "error": f"the check failed: {tail[0][:200]}"}


def heavy_modules_loaded() -> list[str]:
    """Which heavy libraries this process has imported so far (for start-up checks)."""
    heavy = ("torch", "transformers", "diffusers", "TTS", "accelerate", "datasets")
    return [name for name in heavy if name in sys.modules]
