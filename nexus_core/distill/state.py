"""The sticky run state: ``<run dir>/.pipeline_state.json`` (configuration, data order, position, history)
plus ``checkpoints/step-NNNNNN/`` (weights, optimizer, scheduler, RNG). Written atomically; a damaged newest
checkpoint falls back to the one before it.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from nexus_core.atomic import atomic_write_text
from nexus_core.errors import NexusError

STATE_FILE = ".pipeline_state.json"
FORMAT = "nexus-distill-state"
VERSION = 1
KEEP_CHECKPOINTS = 2
ATTENTION_CHOICES = ("auto", "sdpa", "eager")


class RunStateError(NexusError):
    """The run directory or its state file cannot be used; the message says which and why."""


@dataclass
class DistillConfig:
    """Everything that decides what a run computes; a resumed run keeps all of it."""

    teachers: dict[str, str]  # domain ("" = default) -> model folder
    student: str  # a model folder, a config.json, or "half" (half the teacher's width and depth)
    data: str
    sample_size: int | None = 500
    epochs: int = 1
    max_steps: int | None = None
    lr: float = 5e-4
    warmup_steps: int = 10
    batch_size: int = 4
    grad_accum: int = 1
    max_length: int = 256
    pack: bool = True
    held_out: float = 0.05
    seed: int = 0
    divergence: str = "kl"
    temperature: float = 2.0
    jsd_beta: float = 0.5
    logit_weight: float = 1.0
    hidden_weight: float = 0.0
    ce_weight: float = 0.0
    critical_layers: list[int] | str = field(default_factory=list)  # indices, or "auto"
    critical_multiplier: float = 10.0
    checkpoint_every: int = 50
    device: str = "auto"
    dtype: str = "auto"
    lora_rank: int = 0  # > 0: train LoRA adapters (peft) on a trained student instead of all its weights
    lora_alpha: float | None = None  # None: twice the rank
    gradient_checkpointing: bool = False  # recompute activations in the backward pass: less memory, more time
    attention: str = "auto"  # auto (SDPA where the model supports it, else eager) | sdpa | eager
    compile: bool = False  # torch.compile the student's forward pass (off: compile time rarely pays back here)
    teacher_cache_top_k: int = 0  # > 0: cache the teachers' top-k log-probabilities once, then free the teachers
    teacher_outputs: str | None = None  # a layer-streaming pass's folder (nexus sli run --top-k): the teacher's
    # top-k logits for its samples, so a teacher larger than memory can teach (its folder gives config+tokenizer)

    def problems(self) -> list[str]:
        """What makes this configuration unusable, in words; empty when it is fine."""
        problems = []
        if not isinstance(self.teachers, dict) or not self.teachers or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in self.teachers.items()):
            problems.append("teachers must map domains to model folders")
        for name in ("epochs", "batch_size", "grad_accum", "max_length", "checkpoint_every"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                problems.append(f"{name} must be a whole number of at least 1")
        for name in ("lora_rank", "teacher_cache_top_k", "warmup_steps"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 0:
                problems.append(f"{name} must be a whole number (0 turns it off)")
        if not isinstance(self.lr, int | float) or self.lr <= 0:
            problems.append("lr must be a positive number")
        if self.attention not in ATTENTION_CHOICES:
            problems.append(f"attention must be one of {', '.join(ATTENTION_CHOICES)}")
        if self.lora_rank and isinstance(self.student, str) and (self.student == "half"
                                                                 or self.student.endswith(".json")):
            problems.append("LoRA adapts a trained student; a student built from a config starts from random "
                            "weights, so train all of it (lora_rank 0) or give a model folder")
        if self.teacher_outputs and (self.hidden_weight or self.teacher_cache_top_k or len(self.teachers) > 1):
            problems.append("a layer-streaming teacher gives top-k logits for one teacher: use one --teacher, "
                            "hidden_weight 0 and no top-k cache of its own")
        if self.teacher_cache_top_k and self.hidden_weight:
            problems.append("the teacher cache keeps only the teachers' top-k log-probabilities, not their hidden "
                            "states: set hidden_weight to 0 or turn the cache off")
        return problems

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, path: Path) -> DistillConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise RunStateError(f"The state file's config has unknown fields: {', '.join(unknown)}.", path=path,
                                hint="It was edited by hand or written by another version; start a new run.")
        try:
            config = cls(**data)
        except TypeError as exc:
            raise RunStateError(f"The state file's config is incomplete: {exc}.", path=path,
                                hint="Start a new run.") from None
        problems = config.problems()
        if problems:
            raise RunStateError("The state file's config does not make sense: " + "; ".join(problems) + ".",
                                path=path, hint="Fix it, or start a new run.")
        return config


@dataclass
class RunState:
    config: DistillConfig
    order: list[int]
    held_out: list[int]
    step: int = 0
    position: int = 0  # index into the token blocks (made from ``order``) where the next batch starts
    epoch: int = 0
    status: str = "new"  # new | running | stopped | finished | failed
    checkpoint: str | None = None
    history: list[dict[str, float]] = field(default_factory=list)
    data_summary: str = ""
    results: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        data = asdict(self)
        return json.dumps({"format": FORMAT, "version": VERSION, **data}, indent=1)


def state_path(run_dir: Path) -> Path:
    return run_dir / STATE_FILE


def save_state(run_dir: Path, state: RunState) -> None:
    atomic_write_text(state_path(run_dir), state.to_json())


def load_state(run_dir: Path) -> RunState:
    path = state_path(run_dir)
    if not path.is_file():
        raise RunStateError("This folder has no distillation run to resume (no .pipeline_state.json).", path=run_dir,
                            hint="Start a run with --out, or pass the folder of an earlier run.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunStateError(f"The state file cannot be read: {exc}", path=path,
                            hint="It was damaged; start a new run (the checkpoints are still in the folder).") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise RunStateError("The state file is not a Nexus distillation state.", path=path, hint="Start a new run.")
    if data.get("version") != VERSION:
        raise RunStateError(f"The run was written by another version of the state format ({data.get('version')!r}; "
                            f"this one reads {VERSION}).", path=path, hint="Start a new run with this version.")
    try:
        config = DistillConfig.from_dict(data["config"], path=path)
        order, held = data["order"], data["held_out"]
        if not (isinstance(order, list) and all(isinstance(i, int) and i >= 0 for i in order)):
            raise RunStateError("order must be a list of block numbers", path=path)
        state = RunState(config, order, list(held), int(data["step"]), int(data["position"]), int(data["epoch"]),
                         str(data["status"]), data.get("checkpoint"), list(data.get("history") or []),
                         str(data.get("data_summary") or ""), dict(data.get("results") or {}))
    except (KeyError, TypeError, ValueError) as exc:
        raise RunStateError(f"The state file does not make sense ({type(exc).__name__}: {exc}).", path=path,
                            hint="It was edited by hand; start a new run.") from None
    if state.position < 0 or state.step < 0 or state.epoch < 0:
        raise RunStateError("The state file's step, epoch or position is negative.", path=path,
                            hint="It was edited by hand; start a new run.")
    return state


def checkpoint_dirs(run_dir: Path) -> list[Path]:
    """Checkpoints, newest first."""
    return sorted((p for p in (run_dir / "checkpoints").glob("step-*") if p.is_dir()), reverse=True)


def prune_checkpoints(run_dir: Path, keep: int = KEEP_CHECKPOINTS) -> None:
    for old in checkpoint_dirs(run_dir)[keep:]:
        shutil.rmtree(old, ignore_errors=True)
