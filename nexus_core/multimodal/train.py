"""Alignment training (LLaVA stage 1): the encoders and the LLM stay frozen; only the projectors (and the optional
cross-modal attention) learn to turn attachment features into tokens from which the LLM predicts the caption.
Data: a JSONL file of {"image"|"audio"|"video": path, "caption": text} (paths relative to the file), or a folder
of media files each with a same-named .txt caption."""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nexus_core.multimodal.bundle import ModelRef, llm_ref, save
from nexus_core.multimodal.fusion import PLACEHOLDERS, FusionConfig, FusionError, ModalitySpec
from nexus_core.multimodal.media import MediaError, modality_of

FIELDS = {"image": "vision", "audio": "audio", "video": "video"}


@dataclass(frozen=True)
class Pair:
    media: Path
    modality: str
    caption: str


@dataclass
class TrainResult:
    bundle: Path
    steps: int
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0


def read_pairs(source: Path) -> list[Pair]:
    """The media–caption pairs of a JSONL file or a folder; every problem names the file (and line)."""
    source = Path(source)
    if source.is_dir():
        pairs = []
        for path in sorted(source.iterdir()):
            try:
                modality = modality_of(path)
            except MediaError:
                continue
            caption = path.with_suffix(".txt")
            if caption.is_file():
                pairs.append(Pair(path, modality, caption.read_text(encoding="utf-8").strip()))
        if not pairs:
            raise MediaError(f"{source} has no media file with a same-named .txt caption.", path=source,
                             hint="Put e.g. cat.png next to cat.txt, or give a JSONL file.")
        return pairs
    if not source.is_file():
        raise MediaError(f"The training data {source} does not exist.", path=source, hint="Check the path.")
    pairs = []
    for number, line in enumerate(source.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise MediaError(f"{source.name} line {number} is not JSON ({exc.msg}).", path=source,
                             hint='Each line: {"image": "pics/cat.png", "caption": "a cat"}.') from None
        keys = [k for k in FIELDS if k in record]
        caption = record.get("caption") or record.get("text")
        if len(keys) != 1 or not isinstance(caption, str) or not caption.strip():
            raise MediaError(f"{source.name} line {number} needs one of image, audio or video and a caption.",
                             path=source, hint='Each line: {"image": "pics/cat.png", "caption": "a cat"}.')
        media = (source.parent / record[keys[0]]).resolve()
        if not media.is_file():
            raise MediaError(f"{source.name} line {number}: {record[keys[0]]} does not exist.", path=media,
                             hint="Paths are relative to the JSONL file's folder.")
        pairs.append(Pair(media, FIELDS[keys[0]], caption.strip()))
    if not pairs:
        raise MediaError(f"{source.name} has no pairs.", path=source, hint="Add lines with media and captions.")
    return pairs


class Aligner:
    """The frozen LLM and encoders with the learnable fusion; ``step`` trains on one batch, ``loss`` scores."""

    def __init__(self, llm: Any, tokenizer: Any, encoders: dict[str, Any], architect: Any) -> None:
        from nexus_core.multimodal.fusion import NexusBridge

        self.llm, self.tokenizer, self.encoders, self.architect = llm, tokenizer, encoders, architect
        self.bridge = NexusBridge(llm, tokenizer)
        self._features: dict[Path, Any] = {}  # the encoders are frozen: each file is encoded once

    def features(self, pair: Pair) -> Any:
        if pair.media not in self._features:
            encoder = self.encoders.get(pair.modality)
            if encoder is None:
                raise FusionError(f"{pair.media.name} is {pair.modality}, and no {pair.modality} encoder was given.",
                                  path=pair.media, hint=f"Add --{pair.modality} PATH, or leave such files out of "
                                                        "the data.")
            self._features[pair.media] = encoder.features([pair.media])[0]
        return self._features[pair.media]

    def batch_loss(self, pairs: list[Pair]) -> Any:
        media = []
        for pair in pairs:
            fused = self.architect.project_and_fuse({pair.modality: self.features(pair).unsqueeze(0)})
            media.append([fused[pair.modality][0]])
        inputs = self.bridge.build([f"{PLACEHOLDERS[p.modality]}\n" for p in pairs], media, [p.caption for p in pairs])
        return self.llm(**inputs).loss

    def loss(self, pairs: list[Pair], batch_size: int = 8) -> float:
        import torch

        total, count = 0.0, 0
        with torch.no_grad():
            for start in range(0, len(pairs), batch_size):
                chunk = pairs[start:start + batch_size]
                total += float(self.batch_loss(chunk).detach()) * len(chunk)
                count += len(chunk)
        return total / max(1, count)


def align(llm_path: Path, encoder_paths: dict[str, Path], data: Path, out: Path, *, epochs: int = 3,
          max_steps: int | None = None, batch_size: int = 4, lr: float = 1e-3, tokens: int = 32,
          cross_attention: bool = False, heads: int = 16, seed: int = 0, device: str = "cpu",
          progress: Callable[[int, int, float], None] | None = None, check: Callable[[], None] | None = None
          ) -> TrainResult:
    """Train the projectors and write the bundle to ``out``; ``progress(step, total, loss)`` after each step,
    ``check()`` between steps (raises to stop)."""
    import torch

    from nexus_core.models.loader import load_model
    from nexus_core.multimodal.encoders import load_encoder
    from nexus_core.multimodal.fusion import NeuralArchitect

    started = time.perf_counter()
    pairs = read_pairs(data)
    missing = sorted({p.modality for p in pairs} - set(encoder_paths))
    if missing:
        raise FusionError(f"The data has {missing[0]} pairs but no {missing[0]} encoder was given.", path=data,
                          hint=f"Add --{missing[0]} PATH.")
    torch.manual_seed(seed)
    loaded = load_model(llm_path, device=device, dtype="float32")
    if loaded.tokenizer is None:
        raise FusionError(f"{Path(llm_path).name} has no tokenizer.", path=Path(llm_path),
                          hint="Use the LLM's complete folder.")
    llm = loaded.model
    llm.eval()
    for parameter in llm.parameters():
        parameter.requires_grad_(False)
    encoders = {m: load_encoder(p, m, device=device) for m, p in encoder_paths.items()}
    config = FusionConfig(int(llm.config.hidden_size), {m: ModalitySpec(e.width, tokens) for m, e in encoders.items()},
                          cross_attention, heads)
    architect = NeuralArchitect(config).to(next(llm.parameters()).device)
    aligner = Aligner(llm, loaded.tokenizer, encoders, architect)
    optimizer = torch.optim.AdamW([p for p in architect.parameters() if p.requires_grad], lr=lr)
    per_epoch = math.ceil(len(pairs) / batch_size)
    total = min(max_steps, per_epoch * epochs) if max_steps else per_epoch * epochs
    rng = random.Random(seed)
    losses: list[float] = []
    architect.train()
    step = 0
    while step < total:
        order = pairs[:]
        rng.shuffle(order)
        for start in range(0, len(order), batch_size):
            if step >= total:
                break
            if check is not None:
                check()
            loss = aligner.batch_loss(order[start:start + batch_size])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            losses.append(float(loss.detach()))
            if progress is not None:
                progress(step, total, losses[-1])
    architect.eval()
    refs = {m: ModelRef(str(e.path), e.model_type, e.width) for m, e in encoders.items()}
    save(out, architect, llm_ref(Path(llm_path), llm.config), refs,
         {"data": str(data), "pairs": len(pairs), "steps": step, "lr": lr, "batch_size": batch_size,
          "first_loss": losses[0] if losses else None, "last_loss": losses[-1] if losses else None})
    return TrainResult(out, step, losses, time.perf_counter() - started)
