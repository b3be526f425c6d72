"""Fusion: learnable projections from each modality's feature width into the LLM's hidden width (read from the
models, never hard-coded), an optional cross-modal attention block, and the bridge that builds the LLM's
``inputs_embeds`` with each attachment's tokens at its placeholder in the prompt, plus the attention mask, position
ids and (for training) labels that only score the text after the prompt."""

from __future__ import annotations

import functools
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from nexus_core.errors import NexusError

PLACEHOLDERS = {"vision": "<image>", "audio": "<audio>", "video": "<video>"}
_PLACEHOLDER = re.compile("|".join(re.escape(p) for p in PLACEHOLDERS.values()))
IGNORE = -100  # label of positions the loss skips


class FusionError(NexusError):
    """A fusion set-up or input that does not fit."""


@dataclass
class ModalitySpec:
    width: int  # the encoder's feature width
    tokens: int = 32  # tokens given to the LLM per attachment (features are pooled down to this many)


@dataclass
class FusionConfig:
    llm_width: int
    modalities: dict[str, ModalitySpec] = field(default_factory=dict)
    cross_attention: bool = False
    heads: int = 16

    def __post_init__(self) -> None:
        self.modalities = {k: v if isinstance(v, ModalitySpec) else ModalitySpec(**v)
                           for k, v in self.modalities.items()}
        unknown = set(self.modalities) - set(PLACEHOLDERS)
        if unknown:
            raise FusionError(f"Unknown modality {sorted(unknown)[0]!r}; use vision, audio or video.")
        if self.cross_attention and (self.heads < 1 or self.llm_width % self.heads):
            raise FusionError(f"{self.heads} attention heads do not divide the LLM width {self.llm_width}.",
                              hint="Pick a number of heads that divides it (e.g. 8 or 16 for 4096).")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def NeuralArchitect(config: FusionConfig) -> Any:  # noqa: N802 - used as the class it builds
    """The learnable part of fusion: one projector per modality and the optional cross-modal attention
    (a torch module; torch is imported on first use, not with this file)."""
    return _classes()["NeuralArchitect"](config)


@functools.cache
def _classes() -> dict[str, type]:
    import torch
    from torch import nn
    from torch.nn import functional

    class ModalityProjector(nn.Module):
        """LLaVA-1.5's projector: Linear → GELU → Linear, after pooling the features to ``tokens`` tokens."""

        def __init__(self, in_width: int, out_width: int, tokens: int) -> None:
            super().__init__()
            self.tokens = tokens
            self.net = nn.Sequential(nn.Linear(in_width, out_width), nn.GELU(), nn.Linear(out_width, out_width))

        def forward(self, features: torch.Tensor) -> torch.Tensor:
            if self.tokens and features.shape[1] > self.tokens:
                features = functional.adaptive_avg_pool1d(features.transpose(1, 2), self.tokens).transpose(1, 2)
            return self.net(features)

    class CrossModalAttention(nn.Module):
        """Every projected token attends to the tokens of all the modalities of its sample (pre-norm, residual)."""

        def __init__(self, width: int, heads: int) -> None:
            super().__init__()
            self.norm = nn.LayerNorm(width)
            self.attention = nn.MultiheadAttention(width, heads, batch_first=True)

        def forward(self, tokens: torch.Tensor) -> torch.Tensor:
            normed = self.norm(tokens)
            mixed, _weights = self.attention(normed, normed, normed, need_weights=False)
            return tokens + mixed

    class Architect(nn.Module):
        def __init__(self, config: FusionConfig) -> None:
            super().__init__()
            self.config = config
            self.projectors = nn.ModuleDict({name: ModalityProjector(spec.width, config.llm_width, spec.tokens)
                                             for name, spec in config.modalities.items()})
            self.cross = CrossModalAttention(config.llm_width, config.heads) if config.cross_attention else None

        def project_and_fuse(self, features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
            """Each modality's features (batch, tokens, width) → (batch, tokens', llm_width); with cross-modal
            attention, a sample's modalities attend to each other."""
            projected = {}
            for name, value in features.items():
                if name not in self.projectors:
                    raise FusionError(f"This fusion has no {name} projector (it has {', '.join(self.projectors)}).",
                                      hint=f"Train a fusion bundle with a {name} encoder to use {name} attachments.")
                width = self.config.modalities[name].width
                if value.shape[-1] != width:
                    raise FusionError(f"The {name} features are {value.shape[-1]} wide; the projector takes "
                                      f"{width}.", hint="Use the encoder the bundle was trained with.")
                projected[name] = self.projectors[name](value)
            if self.cross is None or not projected:
                return projected
            names = list(projected)
            joined = self.cross(torch.cat([projected[n] for n in names], dim=1))
            out, start = {}, 0
            for name in names:
                count = projected[name].shape[1]
                out[name] = joined[:, start:start + count]
                start += count
            return out

    return {"ModalityProjector": ModalityProjector, "CrossModalAttention": CrossModalAttention,
            "NeuralArchitect": Architect}


class NexusBridge:
    """Builds the LLM's inputs from prompts with placeholders and the fused attachment tokens."""

    def __init__(self, llm: Any, tokenizer: Any) -> None:
        self.llm = llm
        self.tokenizer = tokenizer
        self.embed = llm.get_input_embeddings()

    def build(self, prompts: list[str], media: list[list[Any]], targets: list[str] | None = None, *,
              pad_left: bool = False, add_bos: bool = True) -> dict[str, Any]:
        """``media[b]`` holds sample b's attachment tokens (tokens, llm_width), one per placeholder in order.
        ``targets`` (training) are appended after each prompt and are the only positions with labels."""
        import torch

        if len(media) != len(prompts) or (targets is not None and len(targets) != len(prompts)):
            raise FusionError("Prompts, attachments and targets must come in the same number.")
        device = self.embed.weight.device
        rows: list[tuple[Any, Any]] = []
        for b, prompt in enumerate(prompts):
            pieces, labels = [], []
            ids = self._ids(prompt, b, media[b])
            bos = self.tokenizer.bos_token_id
            if bos is not None and add_bos:
                ids.insert(0, [bos])
            attachments = iter(media[b])
            for part in ids:
                if isinstance(part, list):
                    if part:
                        pieces.append(self.embed(torch.tensor(part, device=device)))
                        labels += [IGNORE] * len(part)
                else:
                    tokens = next(attachments).to(device=device, dtype=self.embed.weight.dtype)
                    pieces.append(tokens)
                    labels += [IGNORE] * tokens.shape[0]
            if targets is not None:
                target = self.tokenizer(targets[b], add_special_tokens=False)["input_ids"]
                if self.tokenizer.eos_token_id is not None:
                    target = [*target, self.tokenizer.eos_token_id]
                pieces.append(self.embed(torch.tensor(target, device=device)))
                labels += target
            rows.append((torch.cat(pieces, dim=0), torch.tensor(labels, device=device)))
        return _pad(rows, pad_left)

    def _ids(self, prompt: str, b: int, attachments: list[Any]) -> list[Any]:
        """The prompt as token-id lists with a marker (None) where each attachment goes."""
        parts: list[Any] = []
        last = 0
        for match in _PLACEHOLDER.finditer(prompt):
            parts.append(self.tokenizer(prompt[last:match.start()], add_special_tokens=False)["input_ids"])
            parts.append(None)
            last = match.end()
        parts.append(self.tokenizer(prompt[last:], add_special_tokens=False)["input_ids"])
        slots = sum(1 for p in parts if p is None)
        if slots != len(attachments):
            raise FusionError(f"Prompt {b} has {slots} placeholder(s) for {len(attachments)} attachment(s).",
                              hint="Put one <image>, <audio> or <video> in the prompt per attachment.")
        return parts


def _pad(rows: list[tuple[Any, Any]], pad_left: bool) -> dict[str, Any]:
    import torch

    length = max(r[0].shape[0] for r in rows)
    width = rows[0][0].shape[1]
    device, dtype = rows[0][0].device, rows[0][0].dtype
    embeds = torch.zeros(len(rows), length, width, device=device, dtype=dtype)
    mask = torch.zeros(len(rows), length, dtype=torch.long, device=device)
    labels = torch.full((len(rows), length), IGNORE, dtype=torch.long, device=device)
    for b, (row, row_labels) in enumerate(rows):
        n = row.shape[0]
        span = slice(length - n, length) if pad_left else slice(0, n)
        embeds[b, span] = row
        mask[b, span] = 1
        labels[b, span] = row_labels
    positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
    return {"inputs_embeds": embeds, "attention_mask": mask, "position_ids": positions, "labels": labels}
