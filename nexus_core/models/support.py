"""Can this build load a model folder, and how? Transformers is imported here only, and only when asked."""

from __future__ import annotations

import importlib.util
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from nexus_core.models.detect import ModelInfo, inspect_model

STRATEGIES = {
    "causal_lm": "AutoModelForCausalLM",
    "seq2seq": "AutoModelForSeq2SeqLM",
    "asr": "AutoModelForSpeechSeq2Seq",
    "tts": "transformers text-to-speech pipeline (a voice in Media)",
    "vision_encoder": "AutoModel",
    "encoder": "AutoModel",
    "multimodal": "AutoModelForImageTextToText",
    "sae": "SAE weights + base model tokenizer",
}


@dataclass(frozen=True)
class SupportReport:
    """The verdict for one folder: a reason a person can act on, and the loader we would use."""

    supported: bool
    reason: str
    strategy: str | None
    needs_trust_remote_code: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for the CLI."""
        return asdict(self)


def known_model_types() -> frozenset[str] | None:
    """Model types the installed transformers knows, or None when transformers is not installed."""
    try:
        from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES
    except ImportError:
        return None
    return frozenset(CONFIG_MAPPING_NAMES)


def _transformers_version() -> str:
    try:
        from importlib.metadata import version

        return version("transformers")
    except Exception:  # metadata missing: only used in a message
        return "?"


def is_model_supported(model: Path | str | ModelInfo, *, trust_remote_code: bool = False) -> SupportReport:
    """Decide whether the folder can be loaded; custom code counts only with explicit consent."""
    info = model if isinstance(model, ModelInfo) else inspect_model(model)
    missing = [p for p in info.problems if "missing" in p or "truncated" in p]
    if missing:
        return SupportReport(False, "The folder is incomplete: " + " ".join(missing), None, False)
    if info.category == "unknown":
        return SupportReport(False, "Cannot tell what kind of model this is (no recognised config).", None, False)
    if info.category == "diffusers":
        strategy = f"diffusers pipeline {info.pipeline_class or ''}".strip()
        if importlib.util.find_spec("diffusers") is None:
            return SupportReport(False, "This is a diffusers pipeline and diffusers is not installed.",
                                 "diffusers pipeline (diffusers not installed)", False)
        if info.custom_code and not trust_remote_code:
            return SupportReport(False, "The pipeline names components from outside diffusers and transformers; "
                                        "loading it runs their code, which needs your consent (trust_remote_code).",
                                 strategy, True)
        return SupportReport(True, f"Loads as a diffusers pipeline ({info.pipeline_class}).", strategy,
                             info.custom_code)
    if info.category == "sae":
        base = info.base_model or "unknown base model"
        return SupportReport(True, f"Sparse autoencoder for {base}; its tokenizer comes from the base model.",
                             STRATEGIES["sae"], False)
    strategy = STRATEGIES[info.category]
    if info.custom_code:
        if trust_remote_code:
            return SupportReport(True, "Custom model code (auto_map) will run: trust_remote_code was given.",
                                 strategy, True)
        return SupportReport(False, "The folder ships its own model code (auto_map); loading it needs "
                                    "trust_remote_code, which runs that code. Allow it only for sources you trust.",
                             strategy, True)
    known = known_model_types()
    if known is None:
        return SupportReport(False, "transformers is not installed.", strategy, False)
    if not info.model_type:
        return SupportReport(False, "config.json has no model_type.", strategy, False)
    arch_known = _transformers_has(info.architecture)
    if arch_known:
        strategy = str(info.architecture)
    if info.model_type in known:
        return SupportReport(True, f"{info.model_type} is known to transformers {_transformers_version()}.",
                             strategy, False)
    from nexus_core.models.loader import model_type_alias

    alias = model_type_alias(info.model_type)
    if alias and alias in known:
        return SupportReport(True, f"Model type {info.model_type!r} is not in transformers "
                                   f"{_transformers_version()}; it loads as the compatible {alias!r}.", strategy, False)
    if arch_known:
        return SupportReport(True, f"Model type {info.model_type!r} is not in transformers {_transformers_version()}; "
                                   f"it loads with {info.architecture}, the class its config.json names.",
                             strategy, False)
    return SupportReport(False, f"transformers {_transformers_version()} does not know model type "
                                f"{info.model_type!r} or the class {info.architecture!r}; a newer transformers may, or "
                                "register an alias to a known model type.", strategy, False)


def _transformers_has(name: str | None) -> bool:
    """Whether transformers exports the class ``name`` (this imports that model's code, which is cached)."""
    if not name:
        return False
    try:
        import transformers

        return isinstance(getattr(transformers, name), type)
    except (ImportError, AttributeError, RuntimeError):
        return False
