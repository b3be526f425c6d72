"""Distillation losses: logit divergence with temperature (forward KL, reverse KL, generalised JSD), hidden-state
MSE through learned projections with a multiplier on critical layers, and optional cross-entropy on labels.

Every term is returned separately (for the curves) along with the weighted total. Positions where the mask
is 0 (padding, packed-sequence boundaries) count for nothing.
"""

from __future__ import annotations

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


def logit_divergence(student_logits: Any, teacher_logits: Any, mask: Any, config: LossConfig) -> Any:
    """Per-token divergence between the temperature-softened distributions, scaled by T² (Hinton et al.)."""
    import torch
    import torch.nn.functional as F  # noqa: N812 - the usual name

    t = config.temperature
    s_log = F.log_softmax(student_logits.float() / t, dim=-1)
    t_log = F.log_softmax(teacher_logits.float() / t, dim=-1)
    if config.divergence == "kl":  # KL(teacher || student)
        per_token = (t_log.exp() * (t_log - s_log)).sum(-1)
    elif config.divergence == "rkl":  # KL(student || teacher)
        per_token = (s_log.exp() * (s_log - t_log)).sum(-1)
    else:  # generalised JSD: β·KL(T‖M) + (1−β)·KL(S‖M), M = β·T + (1−β)·S
        beta = config.jsd_beta
        mixture = torch.logsumexp(torch.stack([t_log + torch.log(torch.tensor(beta)),
                                               s_log + torch.log(torch.tensor(1 - beta))]), dim=0)
        per_token = (beta * (t_log.exp() * (t_log - mixture)).sum(-1)
                     + (1 - beta) * (s_log.exp() * (s_log - mixture)).sum(-1))
    return _masked_mean(per_token, mask) * (t * t)


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


def distillation_loss(student_out: Any, teacher_out: Any, batch: dict[str, Any], projections: Any,
                      config: LossConfig) -> LossTerms:
    """The weighted sum of the enabled terms; logits are shifted so position t predicts token t+1."""
    import torch
    import torch.nn.functional as F  # noqa: N812

    mask = batch["attention_mask"][:, 1:]
    s_logits = student_out.logits[:, :-1]
    t_logits = teacher_out.logits[:, :-1]
    vocab = min(s_logits.shape[-1], t_logits.shape[-1])  # padded vocabularies: compare the shared part
    total = torch.zeros((), device=s_logits.device)
    parts: dict[str, float] = {}
    if config.logit_weight:
        term = logit_divergence(s_logits[..., :vocab], t_logits[..., :vocab], mask, config)
        total = total + config.logit_weight * term
        parts[f"logit_{config.divergence}"] = float(term.detach())
    if config.hidden_weight:
        term, layer_parts = hidden_mse(list(student_out.hidden_states[1:]), list(teacher_out.hidden_states[1:]),
                                       projections, batch["attention_mask"], config)
        total = total + config.hidden_weight * term
        parts["hidden_mse"] = float(term.detach())
        parts.update(layer_parts)
    if config.ce_weight:
        labels = batch["input_ids"][:, 1:].masked_fill(mask == 0, -100)
        term = F.cross_entropy(s_logits.reshape(-1, s_logits.shape[-1]).float(), labels.reshape(-1),
                               ignore_index=-100)
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

    layers = _decoder_layers(student)
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


def _decoder_layers(model: Any) -> list[Any]:
    for path in ("model.layers", "transformer.h", "gpt_neox.layers", "model.decoder.layers"):
        target = model
        for part in path.split("."):
            target = getattr(target, part, None)
            if target is None:
                break
        if target is not None:
            return list(target)
    return []
