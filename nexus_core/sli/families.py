"""Model families the layer-streaming runner knows: where a family keeps its layer lists (one stack, or an
encoder then a decoder), what runs after each stack's last layer, and, for mixture-of-experts models, how
its experts are named in checkpoints.

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
class Stack:
    """One list of layers run in order (a decoder-only model has one; T5 an encoder, then a decoder)."""

    layers: str  # module path of the layer list
    tail: tuple[str, ...]  # modules after the last layer, in order; their output is the stack's last hidden state
    # T5: the first layer alone holds the relative-position table; the model hands its bias on to every later
    # layer. The path (inside layer 0) of the attention whose ``compute_bias`` the runner calls for them.
    shared_bias: str | None = None

    def layer_prefix(self, index: int) -> str:
        return f"{self.layers}.{index}."


@dataclass(frozen=True)
class Family:
    name: str
    model_types: tuple[str, ...]
    stacks: tuple[Stack, ...]  # in the order the model runs them; the last one feeds the head
    head: str = "lm_head"
    experts: ExpertLayout | None = None
    # a config flag that, when true, makes the model scale the head's input by d_model ** -0.5 (T5's tied head)
    head_scale_flag: str | None = None

    @property
    def encoder_decoder(self) -> bool:
        return len(self.stacks) > 1


def _one(layers: str, *tail: str) -> tuple[Stack, ...]:
    return (Stack(layers, tail),)


_T5_BIAS = "layer.0.SelfAttention"
BIAS_TABLE = "relative_attention_bias"  # the shared attention's table, kept loaded for the whole pass
_T5_STACKS = (Stack("encoder.block", ("encoder.final_layer_norm",), _T5_BIAS),
              Stack("decoder.block", ("decoder.final_layer_norm",), _T5_BIAS))


FAMILIES: tuple[Family, ...] = (
    Family("llama", ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "phi3", "granite", "olmo2"),
           _one("model.layers", "model.norm")),
    Family("gpt2", ("gpt2",), _one("transformer.h", "transformer.ln_f")),
    Family("opt", ("opt",),
           _one("model.decoder.layers", "model.decoder.final_layer_norm", "model.decoder.project_out")),
    Family("bloom", ("bloom",), _one("transformer.h", "transformer.ln_f")),
    Family("mamba", ("mamba",), _one("backbone.layers", "backbone.norm_f")),
    Family("umt5", ("umt5",), (Stack("encoder.block", ("encoder.final_layer_norm",)),  # a table in every layer
                               Stack("decoder.block", ("decoder.final_layer_norm",))),
           head_scale_flag="tie_word_embeddings"),
    Family("mt5", ("mt5",), _T5_STACKS),  # before t5: its class names contain "t5"
    Family("t5", ("t5",), _T5_STACKS, head_scale_flag="scale_decoder_outputs"),
    Family("mixtral", ("mixtral",), _one("model.layers", "model.norm"),
           experts=ExpertLayout("mlp.experts", "block_sparse_moe.experts.{e}.", "w1", "w3", "w2",
                                "num_local_experts")),
    Family("qwen_moe", ("qwen2_moe", "qwen3_moe"), _one("model.layers", "model.norm"),
           experts=ExpertLayout("mlp.experts", "mlp.experts.{e}.", "gate_proj", "up_proj", "down_proj",
                                "num_experts")),
    Family("deepseek", ("deepseek_v3", "deepseek_v2"), _one("model.layers", "model.norm"),
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
