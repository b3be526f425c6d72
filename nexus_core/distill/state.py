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
        problems = []
        if not isinstance(config.teachers, dict) or not config.teachers or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in config.teachers.items()):
            problems.append("teachers must map domains to model folders")
        for name in ("epochs", "batch_size", "grad_accum", "max_length", "checkpoint_every"):
            if not isinstance(getattr(config, name), int) or getattr(config, name) < 1:
                problems.append(f"{name} must be a whole number of at least 1")
        if not isinstance(config.lr, int | float) or config.lr <= 0:
            problems.append("lr must be a positive number")
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
