"""Training text for distillation: found recursively under a data folder, read without trusting it.

Formats: ``.jsonl`` (``text``; ``messages`` chat lists; ``prompt``/``completion``; ``instruction``/``output``),
``.csv`` (the same column names), ``.txt`` (one sample per blank-line-separated paragraph), ``.parquet`` (with
pyarrow), and folders written by ``datasets``' ``save_to_disk`` (a ``train`` split when there are several).
A ``domain`` field routes a sample to its teacher. Broken lines are skipped and counted, with the
first line numbers, never fatal.
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nexus_core.errors import NexusError

PRESETS = {"debug": 50, "standard": 500, "production": 5000}
SUFFIXES = (".jsonl", ".csv", ".txt", ".parquet")
SHOWN_BAD_LINES = 5


class DataError(NexusError):
    """The data cannot be used (nothing found, unreadable, a format that needs a missing library)."""


@dataclass(frozen=True)
class Sample:
    text: str | None = None
    messages: tuple[tuple[str, str], ...] = ()
    domain: str = ""
    source: str = ""


@dataclass
class DataReport:
    files: list[str] = field(default_factory=list)
    samples: int = 0
    skipped: int = 0
    bad_lines: list[str] = field(default_factory=list)  # "file:line: why", the first few

    def note(self, path: Path, line: int, why: str) -> None:
        self.skipped += 1
        if len(self.bad_lines) < SHOWN_BAD_LINES:
            self.bad_lines.append(f"{path.name}:{line}: {why}")

    def summary(self) -> str:
        text = f"{self.samples} samples from {len(self.files)} file(s)"
        if self.skipped:
            text += f"; {self.skipped} broken record(s) skipped (first: {'; '.join(self.bad_lines)})"
        return text


def _from_record(record: Any) -> Sample | None:
    if not isinstance(record, dict):
        return None
    domain = str(record.get("domain") or "")
    if isinstance(record.get("messages"), list):
        turns = []
        for message in record["messages"]:
            if not isinstance(message, dict) or not isinstance(message.get("content"), str):
                return None
            turns.append((str(message.get("role") or "user"), message["content"]))
        return Sample(messages=tuple(turns), domain=domain) if turns else None
    for prompt_key, answer_key in (("prompt", "completion"), ("instruction", "output"), ("question", "answer")):
        prompt, answer = record.get(prompt_key), record.get(answer_key)
        if isinstance(prompt, str) and isinstance(answer, str) and (prompt + answer).strip():
            return Sample(messages=((("user", record[prompt_key])), ("assistant", record[answer_key])),
                          domain=domain)
    text = record.get("text") or record.get("content")
    if isinstance(text, str) and text.strip():
        return Sample(text=text, domain=domain)
    return None


def _read_jsonl(path: Path, report: DataReport) -> list[Sample]:
    samples = []
    with path.open(encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                report.note(path, number, f"not JSON ({exc.msg})")
                continue
            sample = _from_record(record)
            if sample is None:
                report.note(path, number, "no text, messages or prompt/completion")
                continue
            samples.append(Sample(sample.text, sample.messages, sample.domain, f"{path.name}:{number}"))
    return samples


def _rows_to_samples(path: Path, rows: Any, report: DataReport, first_line: int) -> list[Sample]:
    """Table rows (csv, parquet) as samples; a row without usable text is counted with its line number."""
    samples = []
    for number, row in enumerate(rows, first_line):
        sample = _from_record(row)
        if sample is None:
            report.note(path, number, "no text or prompt/completion column")
            continue
        samples.append(Sample(sample.text, sample.messages, sample.domain, f"{path.name}:{number}"))
    return samples


def _read_csv(path: Path, report: DataReport) -> list[Sample]:
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        return _rows_to_samples(path, csv.DictReader(handle), report, 2)  # line 1 is the header


def _read_txt(path: Path, _report: DataReport) -> list[Sample]:
    text = path.read_text(encoding="utf-8", errors="replace")
    paragraphs = [p.strip() for p in text.split("\n\n") if p.strip()]
    return [Sample(text=p, source=f"{path.name}#{i}") for i, p in enumerate(paragraphs)]


def _read_parquet(path: Path, report: DataReport) -> list[Sample]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError(f"{path.name} is a parquet file, and reading parquet needs pyarrow, which is not "
                        "installed.", path=path, hint="pip install pyarrow, or convert the data to jsonl.") from None
    return _rows_to_samples(path, pq.read_table(path).to_pylist(), report, 1)


def is_saved_dataset(folder: Path) -> bool:
    """A folder written by ``Dataset.save_to_disk`` or ``DatasetDict.save_to_disk``."""
    return (folder / "dataset_dict.json").is_file() or (
        (folder / "state.json").is_file() and (folder / "dataset_info.json").is_file())


def _read_saved_dataset(path: Path, report: DataReport) -> list[Sample]:
    try:
        import datasets
    except ImportError:
        raise DataError(f"{path.name} is a saved `datasets` folder, and reading it needs the datasets library, "
                        "which is not installed.", path=path,
                        hint="Install the ML extras (./setup.sh install), or export the data to jsonl.") from None
    try:
        loaded = datasets.load_from_disk(str(path))
    except Exception as exc:  # datasets raises many types for damaged folders
        raise DataError(f"The saved dataset {path.name} cannot be read: {str(exc).splitlines()[0][:200]}",
                        path=path, hint="Save it again with save_to_disk, or export it to jsonl.") from exc
    if isinstance(loaded, datasets.DatasetDict):
        splits = [loaded["train"]] if "train" in loaded else [loaded[name] for name in sorted(loaded)]
    else:
        splits = [loaded]
    samples = []
    for split in splits:
        samples += _rows_to_samples(path, iter(split), report, len(samples) + 1)
    return samples


READERS = {".jsonl": _read_jsonl, ".csv": _read_csv, ".txt": _read_txt, ".parquet": _read_parquet}


def discover(data: Path) -> list[Path]:
    """Data files and saved-dataset folders under ``data`` (hidden ones skipped), in a stable order."""
    if data.is_file() or (data.is_dir() and is_saved_dataset(data)):
        return [data]
    if not data.is_dir():
        raise DataError("The data path does not exist.", path=data, hint="Pass a data file or a folder of them.")
    visible = [p for p in sorted(data.rglob("*"))
               if not any(part.startswith(".") for part in p.relative_to(data).parts)]
    saved = [p for p in visible if p.is_dir() and is_saved_dataset(p)]
    datasets = [p for p in saved if not any(outer in p.parents for outer in saved)]  # a DatasetDict's splits
    files = [p for p in visible if p.is_file() and p.suffix.lower() in SUFFIXES
             and not any(folder in p.parents for folder in datasets)]  # a saved dataset's own files are its own
    found = sorted(files + datasets)
    if not found:
        raise DataError("No data files (.jsonl, .csv, .txt, .parquet) or saved datasets were found under the data "
                        "folder.", path=data, hint="Put training text in one of those formats under the folder.")
    return found


def load_samples(data: Path) -> tuple[list[Sample], DataReport]:
    report = DataReport()
    samples: list[Sample] = []
    for path in discover(data):
        reader = _read_saved_dataset if path.is_dir() else READERS.get(path.suffix.lower())
        if reader is None:
            raise DataError(f"{path.name}: unsupported file type.", path=path)
        try:
            found = reader(path, report)
        except OSError as exc:
            raise DataError(f"{path.name} cannot be read: {exc}", path=path) from exc
        report.files.append(str(path))
        samples += found
    report.samples = len(samples)
    if not samples:
        raise DataError("The data files hold no usable samples. " + report.summary(), path=data,
                        hint="Each record needs 'text', 'messages', or 'prompt' and 'completion'.")
    return samples, report


def split_and_order(count: int, *, seed: int, sample_size: int | None, held_out: float = 0.05
                    ) -> tuple[list[int], list[int]]:
    """(training order, held-out indices): a seeded shuffle, cut to ``sample_size``, then the held-out part."""
    order = list(range(count))
    random.Random(seed).shuffle(order)
    if sample_size:
        order = order[:sample_size]
    held = max(1, round(len(order) * held_out)) if len(order) > 1 else 0
    return order[held:], order[:held]


def render(sample: Sample, tokenizer: Any) -> str:
    """A sample as the text the model sees (the tokenizer's chat template for chat samples, when it has one)."""
    if sample.text is not None:
        return sample.text
    messages = [{"role": role, "content": content} for role, content in sample.messages]
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages, tokenize=False)
    return "\n".join(f"{role}: {content}" for role, content in sample.messages)


def token_blocks(samples: list[Sample], indices: list[int], tokenizer: Any, *, max_length: int,
                 pack: bool) -> list[tuple[list[int], str]]:
    """Token id blocks (with the domain of their first sample): packed into ``max_length`` chunks separated by
    the end-of-sequence token, or one truncated block per sample."""
    eos = tokenizer.eos_token_id
    blocks: list[tuple[list[int], str]] = []
    stream: list[int] = []
    stream_domain = ""
    for index in indices:
        sample = samples[index]
        ids = tokenizer(render(sample, tokenizer), add_special_tokens=True)["input_ids"]
        if not pack:
            if len(ids) >= 2:
                blocks.append((ids[:max_length], sample.domain))
            continue
        if not stream:
            stream_domain = sample.domain
        stream += ids + ([eos] if eos is not None else [])
        while len(stream) >= max_length:
            blocks.append((stream[:max_length], stream_domain))
            stream = stream[max_length:]
            stream_domain = sample.domain
    if pack and len(stream) >= 2:
        blocks.append((stream, stream_domain))
    return blocks
