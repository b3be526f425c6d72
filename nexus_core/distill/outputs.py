"""Model outputs for distillation, computed only where the loss looks.

A causal LM's output head (hidden → vocabulary) is often its biggest matrix product; padding positions and
the last position of every sequence never enter the loss. So the decoder runs on the whole batch, and the head
only on the kept positions — when a one-off check shows that gives the model's own logits (models that scale
or cap their logits in their forward pass fall back to the full forward pass, then select).
"""

from __future__ import annotations

from typing import Any

from nexus_core.distill.losses import ModelOutputs

Blocks = list[tuple[list[int], str]]


def kept_positions(batch: dict[str, Any]) -> Any:
    """B × (L−1) booleans: position t is kept when token t+1 is real (t then predicts it)."""
    mask = batch["attention_mask"]
    return (mask[:, 1:] * mask[:, :-1]).bool()


def next_tokens(batch: dict[str, Any], keep: Any) -> Any:
    return batch["input_ids"][:, 1:][keep]


def _parts(model: Any) -> tuple[Any, Any] | None:
    decoder = model.get_decoder() if hasattr(model, "get_decoder") else None
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    return (decoder, head) if decoder is not None and head is not None else None


def head_at_positions_matches(model: Any, batch: dict[str, Any]) -> bool:
    """Whether decoder + output head at selected positions reproduces the model's logits on ``batch``."""
    import torch

    if _parts(model) is None:
        return False
    keep = kept_positions(batch)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            full = model(**batch).logits[:, :-1][keep].float()
            fast = outputs_at(model, batch, keep, hidden=False, fast=True).logits.float()
    except Exception:  # an architecture whose decoder wants other inputs: use the full forward pass
        return False
    finally:
        model.train(was_training)
    return full.shape == fast.shape and bool(torch.allclose(full, fast, atol=1e-4, rtol=1e-4))


def outputs_at(model: Any, batch: dict[str, Any], keep: Any, *, hidden: bool, fast: bool) -> ModelOutputs:
    """Logits at the ``keep`` positions (N × V) and, if ``hidden``, all hidden states."""
    parts = _parts(model) if fast else None
    if parts is None:
        out = model(**batch, output_hidden_states=hidden)
        return ModelOutputs(out.logits[:, :-1][keep], out.hidden_states if hidden else None)
    decoder, head = parts
    out = decoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], output_hidden_states=hidden,
                  use_cache=False)
    return ModelOutputs(head(out.last_hidden_state[:, :-1][keep]), out.hidden_states if hidden else None)


def routed_outputs(models: dict[str, Any], chunk: Blocks, batch: dict[str, Any], keep: Any, *, hidden: bool,
                   fast: dict[str, bool]) -> ModelOutputs:
    """Each row through its domain's model (``models[domain]``), reassembled in batch order."""
    import torch

    domains = sorted({domain for _ids, domain in chunk})
    if len(domains) == 1:
        return outputs_at(models[domains[0]], batch, keep, hidden=hidden, fast=fast[domains[0]])
    rows: dict[int, Any] = {}
    states: dict[int, list[Any]] = {}
    for domain in domains:
        index = [i for i, (_ids, d) in enumerate(chunk) if d == domain]
        sub = {k: v[index] for k, v in batch.items()}
        out = outputs_at(models[domain], sub, keep[index], hidden=hidden, fast=fast[domain])
        pieces = torch.split(out.logits, keep[index].sum(dim=1).tolist())
        for j, i in enumerate(index):
            rows[i] = pieces[j]
            if hidden and out.hidden_states is not None:
                states[i] = [h[j] for h in out.hidden_states]
    logits = torch.cat([rows[i] for i in range(len(chunk))])
    hidden_states = None
    if hidden:
        hidden_states = tuple(torch.stack([states[i][layer] for i in range(len(chunk))])
                              for layer in range(len(states[0])))
    return ModelOutputs(logits, hidden_states)
