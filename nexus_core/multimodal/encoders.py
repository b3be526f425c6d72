"""Modality encoders loaded through the universal loader: vision (CLIP, SigLIP, DINOv2 and other ViTs), audio (the
Whisper encoder, Wav2Vec2 and its kin), video (VideoMAE), each with its processor. ``features`` turns files into
token features (batch, tokens, width); the width is read from the model's config."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nexus_core.multimodal.media import MediaError, read_audio, read_image, read_video

MODALITIES = ("vision", "audio", "video")


@dataclass
class Encoder:
    modality: str
    path: Path
    model: Any  # the backbone that returns last_hidden_state
    processor: Any
    width: int
    model_type: str
    frames: int = 16  # video: frames per clip
    sampling_rate: int = 16000  # audio
    notes: list[str] = field(default_factory=list)

    def features(self, files: list[Path]) -> Any:
        """Token features of ``files`` (all of this encoder's modality): a float tensor (batch, tokens, width)."""
        import torch

        device = next(self.model.parameters()).device
        with torch.no_grad():
            if self.modality == "vision":
                inputs = self.processor(images=[read_image(f) for f in files], return_tensors="pt")
                batch = {"pixel_values": inputs["pixel_values"]}
            elif self.modality == "video":
                clips = [read_video(f, self.frames) for f in files]
                inputs = self.processor(clips, return_tensors="pt")
                batch = {"pixel_values": inputs["pixel_values"]}
            else:
                sounds = []
                for f in files:
                    samples, cut = read_audio(f, self.sampling_rate)
                    if cut:
                        self.notes.append(f"{f.name}: only its first 30 s are used")
                    sounds.append(samples)
                extractor = getattr(self.processor, "feature_extractor", self.processor)
                # Whisper's encoder takes exactly its 30 s window (the extractor pads to it); others pad per batch
                padding = {} if type(extractor).__name__.startswith("Whisper") else {"padding": True}
                inputs = self.processor(sounds, sampling_rate=self.sampling_rate, return_tensors="pt", **padding)
                key = "input_features" if "input_features" in inputs else "input_values"
                batch = {key: inputs[key]}
            dtype = next(self.model.parameters()).dtype
            batch = {k: v.to(device=device, dtype=dtype if v.is_floating_point() else v.dtype) for k, v in
                     batch.items()}
            return self.model(**batch).last_hidden_state.float()


def backbone_of(model: Any, modality: str) -> Any:
    """The part of a loaded model that returns the token features: a CLIP/SigLIP model's vision tower, Whisper's
    encoder, a task model's base model, or the model itself."""
    if modality == "vision" and hasattr(model, "vision_model"):
        return model.vision_model
    if modality == "audio" and hasattr(model, "get_encoder") and getattr(model.config, "model_type", "") in (
            "whisper", "speech_to_text", "moonshine"):
        return model.get_encoder()
    prefix = getattr(model, "base_model_prefix", "")
    base = getattr(model, prefix, None) if prefix else None
    return base if base is not None and base is not model and hasattr(base, "forward") else model


def width_of(config: Any, modality: str) -> int:
    """The encoder's feature width, from its config (a CLIP/SigLIP config keeps it in vision_config)."""
    if modality == "vision" and getattr(config, "vision_config", None) is not None:
        config = config.vision_config
    for name in ("hidden_size", "d_model"):
        value = getattr(config, name, None)
        if isinstance(value, int):
            return value
    raise MediaError(f"The {modality} encoder's config has no hidden_size or d_model, so its feature width is "
                     "unknown.", hint="Choose a CLIP, SigLIP, DINOv2, Whisper, Wav2Vec2 or VideoMAE folder.")


def load_encoder(path: Path | str, modality: str, *, device: str = "cpu", dtype: str = "float32") -> Encoder:
    """Load ``path`` as the ``modality`` encoder through the universal loader, frozen and in eval mode."""
    from nexus_core.models.loader import load_model

    if modality not in MODALITIES:
        raise MediaError(f"{modality!r} is not a modality; use one of {', '.join(MODALITIES)}.")
    loaded = load_model(path, device=device, dtype=dtype)
    if loaded.processor is None:
        raise MediaError(f"{Path(path).name} has no processor files (preprocessor_config.json), so its inputs "
                         "cannot be prepared.", path=Path(path), hint="Use the complete model folder.")
    model = backbone_of(loaded.model, modality)
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    config = loaded.model.config
    encoder = Encoder(modality, Path(path), model, loaded.processor, width_of(config, modality),
                      str(getattr(config, "model_type", "")))
    if modality == "video":
        encoder.frames = int(getattr(config, "num_frames", 16))
    if modality == "audio":
        extractor = getattr(loaded.processor, "feature_extractor", loaded.processor)
        encoder.sampling_rate = int(getattr(extractor, "sampling_rate", 16000))
    return encoder
