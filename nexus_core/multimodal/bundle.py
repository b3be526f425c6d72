"""A fusion bundle: the LLM and encoders it was trained for (by folder and by their facts), the fusion config and
the projector weights. Loading checks that the models given are the ones it fits, naming the file that does not."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nexus_core.atomic import atomic_write_text
from nexus_core.multimodal.fusion import FusionConfig, FusionError

MANIFEST = "fusion.json"
WEIGHTS = "projectors.safetensors"
FORMAT = "nexus-fusion"


@dataclass
class ModelRef:
    path: str
    model_type: str
    width: int
    vocab_size: int | None = None  # the LLM's

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "model_type": self.model_type, "width": self.width, "vocab_size": self.vocab_size}


@dataclass
class Bundle:
    folder: Path
    config: FusionConfig
    llm: ModelRef
    encoders: dict[str, ModelRef]
    training: dict[str, Any] = field(default_factory=dict)


def llm_ref(path: Path, config: Any) -> ModelRef:
    return ModelRef(str(path), str(getattr(config, "model_type", "")), int(config.hidden_size),
                    int(getattr(config, "vocab_size", 0)) or None)


def save(folder: Path, architect: Any, llm: ModelRef, encoders: dict[str, ModelRef], training: dict[str, Any]
         ) -> Path:
    """Write the weights, then the manifest (which makes the folder a bundle), each atomically."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / (WEIGHTS + ".partial")
    save_file({k: v.detach().cpu().contiguous() for k, v in architect.state_dict().items()}, str(partial))
    partial.replace(folder / WEIGHTS)
    manifest = {"format": FORMAT, "version": 1, "created_at": time.time(), "config": architect.config.to_dict(),
                "llm": llm.to_dict(), "encoders": {k: v.to_dict() for k, v in encoders.items()}, "training": training}
    atomic_write_text(folder / MANIFEST, json.dumps(manifest, indent=2))
    return folder


def read(folder: Path) -> Bundle:
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise FusionError(f"{folder} is not a fusion bundle ({MANIFEST} is missing).", path=Path(folder),
                          hint="Give the folder `nexus fuse train --out` wrote.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT:
            raise ValueError(f"format is {data.get('format')!r}, not {FORMAT!r}")
        config = FusionConfig(**data["config"])
        llm = ModelRef(**data["llm"])
        encoders = {k: ModelRef(**v) for k, v in data["encoders"].items()}
    except (ValueError, KeyError, TypeError) as exc:
        raise FusionError(f"{path} cannot be read as a fusion bundle ({exc}).", path=path,
                          hint="Train the bundle again, or restore its folder.") from None
    if not (Path(folder) / WEIGHTS).is_file():
        raise FusionError(f"{Path(folder) / WEIGHTS} is missing.", path=Path(folder) / WEIGHTS,
                          hint="The bundle is incomplete: train it again.")
    return Bundle(Path(folder), config, llm, encoders, data.get("training") or {})


def check_llm(bundle: Bundle, path: Path, config: Any) -> None:
    """Refuse an LLM the bundle was not trained for (another width, family or vocabulary)."""
    given = llm_ref(path, config)
    wanted = bundle.llm
    if (given.width, given.model_type, given.vocab_size) != (wanted.width, wanted.model_type, wanted.vocab_size):
        raise FusionError(f"The fusion bundle {bundle.folder.name} was trained for {Path(wanted.path).name} "
                          f"({wanted.model_type}, width {wanted.width}, {wanted.vocab_size} tokens), not for "
                          f"{path.name} ({given.model_type}, width {given.width}, {given.vocab_size} tokens).",
                          path=bundle.folder / MANIFEST,
                          hint="Use it with the LLM it was trained for, or train a bundle for this one.")


def check_encoder(bundle: Bundle, modality: str, path: Path, width: int) -> None:
    spec = bundle.config.modalities.get(modality)
    if spec is None:
        raise FusionError(f"The fusion bundle {bundle.folder.name} has no {modality} projector.",
                          path=bundle.folder / MANIFEST, hint=f"Train one with a {modality} encoder.")
    if spec.width != width:
        trained_with = Path(bundle.encoders[modality].path).name
        raise FusionError(f"The {modality} encoder {path.name} gives {width}-wide features, but the bundle's "
                          f"projector takes {spec.width} (it was trained with {trained_with}).", path=path,
                          hint="Use the encoder the bundle was trained with.")


def load_architect(bundle: Bundle) -> Any:
    from safetensors.torch import load_file

    from nexus_core.multimodal.fusion import NeuralArchitect

    architect = NeuralArchitect(bundle.config)
    try:
        state = load_file(str(bundle.folder / WEIGHTS))
        architect.load_state_dict(state)
    except (RuntimeError, OSError, ValueError) as exc:
        raise FusionError(f"{bundle.folder / WEIGHTS} does not fit the bundle's config ({str(exc)[:200]}).",
                          path=bundle.folder / WEIGHTS, hint="Train the bundle again.") from None
    architect.eval()
    return architect
