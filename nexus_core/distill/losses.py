"""Distillation losses: logit divergence with temperature (forward KL, reverse KL, generalised JSD), hidden-state
MSE through learned projections with a multiplier on critical layers, and optional cross-entropy on labels.

Every term is returned separately (for the curves) along with the weighted total. Positions where the mask
is 0 (padding, packed-sequence boundaries) count for nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

DIVERGENCES = ("kl", "rkl", "jsd")


@dataclass(frozen=True)
class LossConfig:
    divergence: str = "kl"  # kl (forward, mean-seeking) | rkl (reverse, mode-seeking) | jsd (generalised, β)
    temperature: float = 2.0
    jsd_beta: float = 0.5
    logit_weight: float = 1.0
    hidden_weight: float = 0.0
    ce_weight: float = 0.0
    critical_layers: tuple[int, ...] = ()  # student layer indices whose hidden-state term is multiplied
    critical_multiplier: float = 10.0

    def __post_init__(self) -> None:
        if self.divergence not in DIVERGENCES:
            raise ValueError(f"loss must be one of {', '.join(DIVERGENCES)}, not {self.divergence!r}")
        if self.temperature <= 0:
            raise ValueError("temperature must be positive")
        if not 0.0 < self.jsd_beta < 1.0:
            raise ValueError("jsd beta must be between 0 and 1")


@dataclass
class LossTerms:
    total: Any
    parts: dict[str, float] = field(default_factory=dict)


def layer_map(student_layers: int, teacher_layers: int) -> list[int]:
    """Student layer i ↔ teacher layer round(i·(T−1)/(S−1)): ends matched, the rest spread evenly."""
    if student_layers <= 1:
        return [teacher_layers - 1] * student_layers
    return [round(i * (teacher_layers - 1) / (student_layers - 1)) for i in range(student_layers)]


def _masked_mean(values: Any, mask: Any) -> Any:
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp_min(1.0)


def _select(logits: Any, mask: Any | None) -> Any:
    """Rows of ``logits`` (… × V) where ``mask`` is set, as N × V; all of them (flattened) without a mask."""
    if mask is None:
        return logits.reshape(-1, logits.shape[-1])
    return logits[mask.bool()]


def _mean(per_token: Any) -> Any:
    import torch

    return per_token.mean() if per_token.numel() else torch.zeros((), device=per_token.device)


def _per_token_divergence(s_log: Any, t_log: Any, config: LossConfig) -> Any:
    """The chosen divergence between two log-probability tensors over their last dimension."""
    import torch

    if config.divergence == "kl":  # KL(teacher || student)
        return (t_log.exp() * (t_log - s_log)).sum(-1)
    if config.divergence == "rkl":  # KL(student || teacher)
        return (s_log.exp() * (s_log - t_log)).sum(-1)
    beta = config.jsd_beta  # generalised JSD: β·KL(T‖M) + (1−β)·KL(S‖M), M = β·T + (1−β)·S
    mixture = torch.logaddexp(t_log + math.log(beta), s_log + math.log(1 - beta))
    return beta * (t_log.exp() * (t_log - mixture)).sum(-1) + (1 - beta) * (s_log.exp() * (s_log - mixture)).sum(-1)


def logit_divergence(student_logits: Any, teacher_logits: Any, mask: Any | None, config: LossConfig) -> Any:
    """Mean per-token divergence between the temperature-softened distributions, scaled by T² (Hinton et al.).

    Only positions where ``mask`` is set are computed (padding costs nothing); ``mask=None`` takes every row.
    The teacher side needs no gradient, so none of its intermediates are kept for the backward pass."""
    import torch
    import torch.nn.functional as F  # noqa: N812 - the usual name

    t = config.temperature
    s_log = F.log_softmax(_select(student_logits, mask).float() / t, dim=-1)
    with torch.no_grad():
        t_log = F.log_softmax(_select(teacher_logits, mask).float() / t, dim=-1)
    return _mean(_per_token_divergence(s_log, t_log, config)) * (t * t)


def _with_tail(top_log: Any) -> Any:
    """Top-k log-probabilities plus one bucket holding the rest of the probability mass."""
    import torch

    tail = torch.log((1.0 - top_log.exp().sum(-1, keepdim=True)).clamp_min(1e-12))
    return torch.cat([top_log, tail], dim=-1)


def topk_divergence(student_logits: Any, teacher_logprobs: Any, teacher_indices: Any, mask: Any,
                    config: LossConfig) -> Any:
    """The divergence against a cached teacher: its top-k log-probabilities (at the run's temperature) and one
    bucket for the remaining mass, against the student's probabilities of the same tokens and the same
    remainder. This is the full-vocabulary divergence with the tail merged, so it never exceeds it and equals it
    when k covers the vocabulary."""
    import torch.nn.functional as F  # noqa: N812

    t = config.temperature
    s_full = F.log_softmax(_select(student_logits, mask).float() / t, dim=-1)
    s_log = _with_tail(s_full.gather(-1, _select(teacher_indices, mask).long()))
    t_log = _with_tail(_select(teacher_logprobs, mask).float())
    return _mean(_per_token_divergence(s_log, t_log, config)) * (t * t)


def hidden_mse(student_hidden: list[Any], teacher_hidden: list[Any], projections: Any, mask: Any,
               config: LossConfig) -> tuple[Any, dict[str, float]]:
    """Mean over mapped layers of the MSE between projected student states and teacher states.

    ``student_hidden``/``teacher_hidden`` are per-layer outputs (embeddings excluded); ``projections`` is a
    ModuleList with one Linear (or Identity) per student layer.
    """
    import torch

    mapping = layer_map(len(student_hidden), len(teacher_hidden))
    total = torch.zeros((), device=student_hidden[0].device)
    parts: dict[str, float] = {}
    weights = 0.0
    for i, (s_state, t_index) in enumerate(zip(student_hidden, mapping, strict=True)):
        projected = projections[i](s_state.float())
        per_token = ((projected - teacher_hidden[t_index].float()) ** 2).mean(-1)
        term = _masked_mean(per_token, mask)
        weight = config.critical_multiplier if i in config.critical_layers else 1.0
        total = total + weight * term
        weights += weight
        parts[f"hidden_l{i}"] = float(term.detach())
    return total / weights, parts


@dataclass
class ModelOutputs:
    """What the losses need from one model on one batch: next-token logits at the kept positions only
    (N × V, in row-major order of the batch) and, when asked for, every layer's hidden states (B × L × H)."""

    logits: Any
    hidden_states: tuple[Any, ...] | None = None


def distillation_loss(student: ModelOutputs, teacher: ModelOutputs | None, labels: Any, hidden_mask: Any,
                      projections: Any, config: LossConfig, teacher_topk: tuple[Any, Any] | None = None) -> LossTerms:
    """The weighted sum of the enabled terms. ``labels`` are the next tokens at the kept positions (N);
    ``hidden_mask`` (B × L) marks the real tokens for the hidden-state term. ``teacher_topk`` (log-probabilities
    and token ids, N × k) replaces the teacher's logits when its top-k were cached (no hidden-state term then)."""
    import torch
    import torch.nn.functional as F  # noqa: N812

    s_logits = student.logits
    total = torch.zeros((), device=s_logits.device)
    parts: dict[str, float] = {}
    if config.logit_weight and teacher_topk is not None:
        term = topk_divergence(s_logits, *teacher_topk, None, config)
        total = total + config.logit_weight * term
        parts[f"logit_{config.divergence}"] = float(term.detach())
    elif config.logit_weight:
        assert teacher is not None
        vocab = min(s_logits.shape[-1], teacher.logits.shape[-1])  # padded vocabularies: compare the shared part
        term = logit_divergence(s_logits[..., :vocab], teacher.logits[..., :vocab], None, config)
        total = total + config.logit_weight * term
        parts[f"logit_{config.divergence}"] = float(term.detach())
    if config.hidden_weight:
        assert teacher is not None and student.hidden_states is not None and teacher.hidden_states is not None
        term, layer_parts = hidden_mse(list(student.hidden_states[1:]), list(teacher.hidden_states[1:]),
                                       projections, hidden_mask, config)
        total = total + config.hidden_weight * term
        parts["hidden_mse"] = float(term.detach())
        parts.update(layer_parts)
    if config.ce_weight:
        term = F.cross_entropy(s_logits.float(), labels) if labels.numel() else torch.zeros((), device=s_logits.device)
        total = total + config.ce_weight * term
        parts["ce"] = float(term.detach())
    parts["total"] = float(total.detach())
    return LossTerms(total, parts)


def build_projections(student_width: int, teacher_width: int, layers: int) -> Any:
    """One learned Linear per student layer when the widths differ (Identity when they match)."""
    import torch

    if student_width == teacher_width:
        return torch.nn.ModuleList([torch.nn.Identity() for _ in range(layers)])
    return torch.nn.ModuleList([torch.nn.Linear(student_width, teacher_width, bias=False) for _ in range(layers)])


def layer_importance(student: Any, batch: dict[str, Any], top_k: int = 2) -> list[int]:
    """Critical layers found automatically: the student layers whose output changes the next-token loss most
    when skipped (each layer's residual update is zeroed in turn on a calibration batch)."""
    import torch

    layers = decoder_layers(student)
    if not layers:
        return []
    with torch.no_grad():
        base = float(student(**batch, labels=batch["input_ids"]).loss)
        scores = []
        for index, layer in enumerate(layers):
            handle = layer.register_forward_hook(lambda _m, args, out: (args[0], *out[1:])
                                                 if isinstance(out, tuple) else args[0])
            try:
                scores.append((float(student(**batch, labels=batch["input_ids"]).loss) - base, index))
            finally:
                handle.remove()
    return sorted(index for _score, index in sorted(scores, reverse=True)[:top_k])


def decoder_layers(model: Any) -> list[Any]:
    """The transformer blocks of a causal LM (through a peft wrapper too), in order."""
    if hasattr(model, "get_base_model"):
        model = model.get_base_model()
    for path in ("model.layers", "transformer.h", "gpt_neox.layers", "model.decoder.layers"):
        target = model
        for part in path.split("."):
            target = getattr(target, part, None)
            if target is None:
                break
        if target is not None:
            return list(target)
    return []
