"""Local model folders: what a folder holds (detect), whether we can load it (support), where models are (scan).

Detection reads only JSON and safetensors headers so it stays fast and never imports torch or transformers.
"""

from __future__ import annotations

from nexus_core.models.detect import CATEGORIES, ModelFolderError, ModelInfo, inspect_model
from nexus_core.models.scan import ScanResult, scan_models
from nexus_core.models.support import SupportReport, is_model_supported

__all__ = [
    "CATEGORIES",
    "ModelFolderError",
    "ModelInfo",
    "ScanResult",
    "SupportReport",
    "inspect_model",
    "is_model_supported",
    "scan_models",
]
