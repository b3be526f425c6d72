"""Mixture-of-experts layers, streamed: an expert's weights are read the first time a token is routed to it
in the current layer, and never when no token is. Stands in for transformers' fused experts module (same
forward contract: hidden states, top-k indices, top-k weights)."""

from __future__ import annotations

from typing import Any

from nexus_core.sli.families import ExpertLayout
from nexus_core.sli.weights import WeightStore


def lazy_experts(original: Any, store: WeightStore, checkpoint_prefix: str, layout: ExpertLayout,
                 device: Any, dtype: Any) -> Any:
    """A module replacing ``original`` (a fused experts module) that loads experts on first use."""
    import torch

    class LazyExperts(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.num_experts = original.num_experts
            self.act_fn = original.act_fn
            self.loaded: dict[int, tuple[Any, Any]] = {}

        def expert(self, index: int) -> tuple[Any, Any]:
            weights = self.loaded.get(index)
            if weights is None:
                base = checkpoint_prefix + layout.checkpoint.format(e=index)
                gate = store.read_checkpoint(f"{base}{layout.gate}.weight", dtype)
                up = store.read_checkpoint(f"{base}{layout.up}.weight", dtype)
                down = store.read_checkpoint(f"{base}{layout.down}.weight", dtype)
                weights = self.loaded[index] = (torch.cat([gate, up], dim=0).to(device), down.to(device))
            return weights

        def forward(self, hidden_states: Any, top_k_index: Any, top_k_weights: Any) -> Any:
            final = torch.zeros_like(hidden_states)
            with torch.no_grad():
                mask = torch.nn.functional.one_hot(top_k_index, num_classes=self.num_experts + 1).permute(2, 1, 0)
                hit = torch.greater(mask.sum(dim=(-1, -2)), 0).nonzero()
            for row in hit:
                index = int(row[0])
                if index == self.num_experts:
                    continue
                gate_up, down = self.expert(index)
                top_k_pos, token_idx = torch.where(mask[index])
                gate, up = torch.nn.functional.linear(hidden_states[token_idx], gate_up).chunk(2, dim=-1)
                out = torch.nn.functional.linear(self.act_fn(gate) * up, down)
                out = out * top_k_weights[token_idx, top_k_pos, None]
                final.index_add_(0, token_idx, out.to(final.dtype))
            return final

    return LazyExperts()


def per_expert_checkpoint(store: WeightStore, checkpoint_prefix: str, layout: ExpertLayout) -> bool:
    """Whether the checkpoint stores this layer's experts one by one (else they are fused and load whole)."""
    first = checkpoint_prefix + layout.checkpoint.format(e=0) + f"{layout.gate}.weight"
    return first in store.sources
