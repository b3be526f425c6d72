"""Model families the layer-streaming runner knows: where a family keeps its layer list, what runs after the
last layer, and, for mixture-of-experts models, how its experts are named in checkpoints.

Everything else comes from the installed transformers classes: the model is built on the meta device, and
the runner captures exactly the arguments the model itself passes to each layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nexus_core.errors import NexusError


class UnsupportedFamily(NexusError):  # noqa: N818 - reads as the situation it reports
    """The model's architecture is not one the runner can stream."""


@dataclass(frozen=True)
class ExpertLayout:
    """A mixture-of-experts layer: the fused experts module and the per-expert checkpoint names."""

    module: str  # inside the layer, e.g. "mlp.experts"
    checkpoint: str  # inside the layer, per expert, e.g. "block_sparse_moe.experts.{e}."
    gate: str  # the expert's gate projection name (first half of gate_up_proj)
    up: str
    down: str
    count_attr: str  # config attribute with the number of experts


@dataclass(frozen=True)
class Family:
    name: str
    model_types: tuple[str, ...]
    layers: str  # module path of the layer list
    tail: tuple[str, ...]  # modules after the last layer, in order; their output is hidden_states[-1]
    head: str = "lm_head"
    experts: ExpertLayout | None = None

    def layer_prefix(self, index: int) -> str:
        return f"{self.layers}.{index}."


FAMILIES: tuple[Family, ...] = (
    Family("llama", ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "phi3", "granite", "olmo2"),
           "model.layers", ("model.norm",)),
    Family("gpt2", ("gpt2",), "transformer.h", ("transformer.ln_f",)),
    Family("opt", ("opt",), "model.decoder.layers", ("model.decoder.final_layer_norm", "model.decoder.project_out")),
    Family("bloom", ("bloom",), "transformer.h", ("transformer.ln_f",)),
    Family("mamba", ("mamba",), "backbone.layers", ("backbone.norm_f",)),
    Family("mixtral", ("mixtral",), "model.layers", ("model.norm",),
           experts=ExpertLayout("mlp.experts", "block_sparse_moe.experts.{e}.", "w1", "w3", "w2",
                                "num_local_experts")),
    Family("qwen_moe", ("qwen2_moe", "qwen3_moe"), "model.layers", ("model.norm",),
           experts=ExpertLayout("mlp.experts", "mlp.experts.{e}.", "gate_proj", "up_proj", "down_proj",
                                "num_experts")),
    Family("deepseek", ("deepseek_v3", "deepseek_v2"), "model.layers", ("model.norm",),
           experts=ExpertLayout("mlp.experts", "mlp.experts.{e}.", "gate_proj", "up_proj", "down_proj",
                                "n_routed_experts")),
)


def supported() -> str:
    return ", ".join(f"{f.name} ({'/'.join(f.model_types)})" for f in FAMILIES)


def detect_family(config: Any) -> Family:
    """By ``model_type`` first, then by the architecture's class name; UnsupportedFamily lists the others."""
    model_type = str(getattr(config, "model_type", "") or "").lower()
    for family in FAMILIES:
        if model_type in family.model_types:
            return family
    names = [str(a).lower() for a in getattr(config, "architectures", None) or []]
    for family in FAMILIES:
        if any(t.replace("_", "") in name for name in names for t in family.model_types):
            return family
    raise UnsupportedFamily(f"Layer streaming does not support model type {model_type or '?'!r} "
                            f"({', '.join(names) or 'no architectures listed'}).",
                            hint=f"Supported families: {supported()}.")


def resolve(root: Any, path: str) -> Any:
    """The submodule at a dotted path, or None when the model has no such module (e.g. OPT's project_out)."""
    target = root
    for part in path.split("."):
        target = getattr(target, part, None)
        if target is None:
            return None
    return target
