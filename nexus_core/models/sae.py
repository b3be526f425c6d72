"""Sparse autoencoders (SAELens ``cfg.json`` + ``sae_weights.safetensors``, Gemma-Scope ``params.npz``).

An SAE reads the activations of a base model at one hook point; it has no tokenizer of its own, so the
tokenizer comes from the base model named in its config, found among the models already on disk.
"""

from __future__ import annotations

import functools
import zipfile
from pathlib import Path
from typing import Any

from nexus_core.models.detect import ModelInfo, hf_cache_name, read_json
from nexus_core.models.devices import ModelLoadError

_REQUIRED = ("W_enc", "W_dec", "b_enc", "b_dec")


@functools.cache
def sae_class() -> type:
    """The torch module, built on first use so importing this file does not import torch."""
    import torch

    class SparseAutoencoder(torch.nn.Module):
        """``encode`` gives sparse feature activations, ``decode`` maps them back to the residual stream."""

        def __init__(self, d_in: int, d_sae: int, *, architecture: str = "standard", k: int | None = None,
                     apply_b_dec_to_input: bool = False, hook_name: str | None = None) -> None:
            super().__init__()
            self.d_in, self.d_sae, self.architecture, self.k = d_in, d_sae, architecture, k
            self.apply_b_dec_to_input, self.hook_name = apply_b_dec_to_input, hook_name
            self.W_enc = torch.nn.Parameter(torch.zeros(d_in, d_sae))
            self.W_dec = torch.nn.Parameter(torch.zeros(d_sae, d_in))
            self.b_enc = torch.nn.Parameter(torch.zeros(d_sae))
            self.b_dec = torch.nn.Parameter(torch.zeros(d_in))
            self.threshold = torch.nn.Parameter(torch.zeros(d_sae)) if architecture == "jumprelu" else None

        def encode(self, x: torch.Tensor) -> torch.Tensor:
            if self.apply_b_dec_to_input:
                x = x - self.b_dec
            pre = x @ self.W_enc + self.b_enc
            if self.architecture == "jumprelu":
                return pre * (pre > self.threshold)
            if self.architecture == "topk" and self.k:
                top = torch.topk(pre, self.k, dim=-1)
                return torch.zeros_like(pre).scatter(-1, top.indices, torch.relu(top.values))
            return torch.relu(pre)

        def decode(self, features: torch.Tensor) -> torch.Tensor:
            return features @ self.W_dec + self.b_dec

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.decode(self.encode(x))

    return SparseAutoencoder


def _read_npz(path: Path) -> dict[str, Any]:
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise ModelLoadError(f"{path.name} is not a readable .npz file: {exc}", kind="folder", path=path,
                             hint="Download the SAE again.") from exc


def load_sae(info: ModelInfo, device: str, dtype: str) -> Any:
    """Build the SAE from its files; shapes must agree with each other and with ``cfg.json``."""
    import torch

    folder = info.path
    cfg: dict[str, Any] = read_json(folder / "cfg.json") if (folder / "cfg.json").is_file() else {}
    if (folder / "sae_weights.safetensors").is_file():
        from safetensors.torch import load_file

        path = folder / "sae_weights.safetensors"
        try:
            tensors = load_file(str(path))
        except Exception as exc:  # safetensors raises its own error type for corrupt files
            raise ModelLoadError(f"{path.name} cannot be read: {exc}", kind="folder", path=path,
                                 hint="Download the SAE again.") from exc
    else:
        path = folder / "params.npz"
        tensors = {k: torch.from_numpy(v) for k, v in _read_npz(path).items()}
    absent = [k for k in _REQUIRED if k not in tensors]
    if absent:
        raise ModelLoadError(f"{path.name} lacks {', '.join(absent)}; an SAE needs {', '.join(_REQUIRED)}.",
                             kind="weights", path=path, hint="This is not an SAE checkpoint this loader knows.")
    d_in, d_sae = (int(n) for n in tensors["W_enc"].shape)
    for key, want in (("d_in", d_in), ("d_sae", d_sae)):
        if key in cfg and int(cfg[key]) != want:
            raise ModelLoadError(f"cfg.json says {key}={cfg[key]}, but W_enc in {path.name} has shape "
                                 f"{list(tensors['W_enc'].shape)}.", kind="weights", path=path,
                                 hint="The weights do not belong to this cfg.json: download the SAE again.")
    architecture = str(cfg.get("architecture") or ("jumprelu" if "threshold" in tensors else "standard"))
    kwargs = cfg.get("activation_fn_kwargs") or {}
    sae = sae_class()(d_in, d_sae, architecture=architecture, k=kwargs.get("k"),
                      apply_b_dec_to_input=bool(cfg.get("apply_b_dec_to_input", False)),
                      hook_name=cfg.get("hook_name"))
    try:
        sae.load_state_dict({k: v for k, v in tensors.items() if k in dict(sae.named_parameters())}, strict=True)
    except RuntimeError as exc:
        raise ModelLoadError(f"{path.name} does not fit an SAE of d_in={d_in}, d_sae={d_sae}: {exc}", kind="weights",
                             path=path, hint="Download the SAE again.") from exc
    return sae.to(device=device, dtype=getattr(torch, dtype)).eval()


def find_local_model(name: str, roots: list[Path]) -> Path | None:
    """A folder on disk holding the model ``org/name`` (a Hugging Face cache snapshot or a folder so named)."""
    short = name.rsplit("/", 1)[-1].lower()
    for root in roots:
        cache_dir = root / f"models--{name.replace('/', '--')}" / "snapshots"
        if cache_dir.is_dir():
            for snapshot in sorted(cache_dir.iterdir(), reverse=True):
                if (snapshot / "config.json").is_file() or (snapshot / "tokenizer_config.json").is_file():
                    return snapshot
        for candidate in (root / name, root / short):
            if candidate.is_dir() and ((candidate / "tokenizer_config.json").is_file()
                                       or (candidate / "tokenizer.json").is_file()):
                return candidate
    return None


def base_model_tokenizer(info: ModelInfo, roots: list[Path]) -> tuple[Any, str]:
    """The tokenizer an SAE should use, and a note saying where it came from (or why there is none)."""
    from transformers import AutoTokenizer

    if info.has_tokenizer:
        return AutoTokenizer.from_pretrained(info.path, local_files_only=True), "tokenizer from the SAE folder"
    if not info.base_model:
        return None, "No tokenizer: the SAE names no base model (cfg.json has no model_name)."
    folder = find_local_model(info.base_model, roots)
    if folder is None:
        return None, (f"No tokenizer: the base model {info.base_model} is not on this computer. Download it "
                      f"(hf download {info.base_model}) or add its folder to the model folders.")
    label = hf_cache_name(folder) or folder.name
    return AutoTokenizer.from_pretrained(folder, local_files_only=True), f"tokenizer from the base model {label}"
