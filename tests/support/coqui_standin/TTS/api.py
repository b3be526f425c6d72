"""``TTS.api.TTS`` as coqui-tts 0.27 defines it (keyword ``model_path``/``config_path``, ``.to(device)``,
``tts(text=, speaker_wav=, language=, split_sentences=, speed=)`` returning a list of floats,
``is_multi_lingual``, ``synthesizer.output_sample_rate``); the "speech" is a tone as long as the text."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

CALLS: list[dict[str, Any]] = []


class _Synthesizer:
    output_sample_rate = 24000


class TTS:
    def __init__(self, model_name: str = "", *, model_path: str | None = None, config_path: str | None = None,
                 **_kwargs: Any) -> None:
        if model_path is None or config_path is None or not Path(model_path).exists():
            raise FileNotFoundError(model_path)
        self.config = json.loads(Path(config_path).read_text())
        self.model_path, self.device = model_path, "cpu"
        self.synthesizer = _Synthesizer()

    @property
    def is_multi_lingual(self) -> bool:
        return len(self.config.get("languages") or []) > 1

    def to(self, device: str) -> TTS:
        self.device = device
        return self

    def tts(self, text: str, speaker: str | None = None, language: str | None = None, speaker_wav: str | None = None,
            split_sentences: bool = True, speed: float = 1.0, **_kwargs: Any) -> list[float]:
        if self.is_multi_lingual and language is None:
            raise ValueError("Model is multi-lingual but no `language` is provided.")
        CALLS.append({"text": text, "language": language, "speaker_wav": speaker_wav,
                      "split_sentences": split_sentences, "speed": speed, "model_path": self.model_path})
        count = int(0.06 * len(text) / speed * self.synthesizer.output_sample_rate)
        return [0.2 * math.sin(2 * math.pi * 180 * i / self.synthesizer.output_sample_rate) for i in range(count)]
