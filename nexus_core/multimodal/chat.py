"""Fused chat inputs: a trained bundle's encoders and projectors in front of a local LLM, turning a prompt with
placeholders and its attachments into ``inputs_embeds`` for ``generate``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nexus_core.multimodal import bundle as bundles
from nexus_core.multimodal.fusion import PLACEHOLDERS, FusionError
from nexus_core.multimodal.media import modality_of


@dataclass
class FusedInputs:
    bundle: bundles.Bundle
    architect: Any
    encoders: dict[str, Any]
    llm: Any

    @classmethod
    def load(cls, folder: Path, llm: Any, llm_path: Path) -> FusedInputs:
        from nexus_core.multimodal.encoders import load_encoder

        bundle = bundles.read(folder)
        bundles.check_llm(bundle, llm_path, llm.config)
        encoders = {}
        for modality, ref in bundle.encoders.items():
            path = Path(ref.path)
            if not path.is_dir():
                raise FusionError(f"The {modality} encoder the bundle {folder.name} was trained with, {path}, is "
                                  "gone.", path=folder / bundles.MANIFEST,
                                  hint="Put the encoder folder back, or train the bundle again.")
            encoder = load_encoder(path, modality, device=str(next(llm.parameters()).device))
            bundles.check_encoder(bundle, modality, path, encoder.width)
            encoders[modality] = encoder
        architect = bundles.load_architect(bundle).to(next(llm.parameters()).device)
        return cls(bundle, architect, encoders, llm)

    def placeholders(self, attachments: list[Path]) -> str:
        """The placeholders to put in the user's message, one per attachment, checked against the bundle."""
        marks = []
        for path in attachments:
            modality = modality_of(path)
            if modality not in self.encoders:
                raise FusionError(f"{path.name} is {modality}, but the fusion bundle {self.bundle.folder.name} "
                                  f"handles only {', '.join(self.encoders)}.", path=path,
                                  hint=f"Train a bundle with a {modality} encoder, or leave this file out.")
            marks.append(PLACEHOLDERS[modality])
        return "".join(marks)

    def inputs(self, tokenizer: Any, prompt: str, attachments: list[Path]) -> dict[str, Any]:
        """``inputs_embeds``, ``attention_mask`` and ``position_ids`` for one prompt (left-padded, as for
        generation); ``prompt`` holds a placeholder per attachment, in order."""
        import torch

        from nexus_core.multimodal.fusion import NexusBridge

        with torch.no_grad():
            media = []
            for path in attachments:
                modality = modality_of(path)
                features = self.encoders[modality].features([path])
                media.append(self.architect.project_and_fuse({modality: features})[modality][0])
            bridge = NexusBridge(self.llm, tokenizer)
            built = bridge.build([prompt], [media], pad_left=True,
                                 add_bos=not (tokenizer.bos_token and prompt.startswith(tokenizer.bos_token)))
        built.pop("labels")
        return built
