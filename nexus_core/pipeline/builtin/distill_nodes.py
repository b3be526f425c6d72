"""Distillation as pipeline nodes: Data → Teacher → Student → Distil → Evaluate / Export.

Distil is cacheable: running the graph again with nothing changed does not train again, and a run folder
that already holds a run is resumed (so a stopped run continues) instead of started over.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nexus_core.pipeline.nodes import NodeContext, NodeType, Param, Port

PRESET_CHOICES = ("debug", "standard", "production")


def _data(_ctx: NodeContext, _inputs: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    from nexus_core.distill.data import PRESETS

    path = str(params["path"]).strip()
    if not path:
        raise ValueError("set the data file or folder")
    return {"data": {"path": path, "sample_size": PRESETS[params["preset"]]}}


def _teacher(_ctx: NodeContext, inputs: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    path = str(params["path"]).strip()
    if not path:
        raise ValueError("set the teacher model folder")
    teachers = dict(inputs.get("teachers") or {})
    domain = str(params["domain"]).strip()
    if domain in teachers:
        raise ValueError(f"two teachers for the domain {domain or '(default)'!r}")
    teachers[domain] = path
    return {"teachers": teachers}


def _student(_ctx: NodeContext, _inputs: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    return {"student": str(params["spec"]).strip() or "half"}


def _train(ctx: NodeContext, inputs: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    from nexus_core.distill.state import DistillConfig
    from nexus_core.distill.trainer import DistillRun

    runs_dir = ctx.service("distill").runs_dir
    run_dir = runs_dir / str(params["run_name"]).strip()
    data = inputs["data"]
    config = DistillConfig(teachers=inputs["teachers"], student=inputs["student"], data=data["path"],
                           sample_size=data["sample_size"], epochs=int(params["epochs"]),
                           max_steps=int(params["max_steps"]) or None, lr=float(params["lr"]),
                           divergence=params["loss"], temperature=float(params["temperature"]),
                           hidden_weight=float(params["hidden_weight"]), max_length=int(params["max_length"]),
                           lora_rank=int(params["lora_rank"]), teacher_cache_top_k=int(params["teacher_cache_top_k"]),
                           gradient_checkpointing=bool(params["gradient_checkpointing"]))
    run = DistillRun.resume(run_dir) if (run_dir / ".pipeline_state.json").exists() else \
        DistillRun.create(run_dir, config)
    state = run.run()
    return {"run": str(run_dir), "status": state.status}


def _evaluate(_ctx: NodeContext, inputs: dict[str, Any], _params: dict[str, Any]) -> dict[str, Any]:
    from nexus_core.distill.trainer import DistillRun

    run = DistillRun.resume(Path(inputs["run"]))
    run.prepare()
    return {"metrics": run.evaluate()}


def _export(_ctx: NodeContext, inputs: dict[str, Any], _params: dict[str, Any]) -> dict[str, Any]:
    student = Path(inputs["run"]) / "student"
    if not (student / "config.json").is_file():
        raise FileNotFoundError(f"the run has no exported student yet ({student}); let it finish")
    return {"path": str(student)}


def distill_nodes() -> list[NodeType]:
    return [
        NodeType("distill.data", "Training data", "Distillation", _data, outputs=(Port("data", "dataset"),),
                 params=(Param("path", "text", "", "File or folder"),
                         Param("preset", "choice", "standard", "Sample size", PRESET_CHOICES))),
        NodeType("distill.teacher", "Teacher", "Distillation", _teacher,
                 inputs=(Port("teachers", "teachers", False, "more teachers to route between"),),
                 outputs=(Port("teachers", "teachers"),),
                 params=(Param("path", "text", "", "Model folder"),
                         Param("domain", "text", "", "Domain", description="empty: the default teacher"))),
        NodeType("distill.student", "Student", "Distillation", _student, outputs=(Port("student", "student"),),
                 params=(Param("spec", "text", "half", "Student", description="'half', a folder or a config.json"),)),
        NodeType("distill.train", "Distil", "Distillation", _train,
                 inputs=(Port("data", "dataset"), Port("teachers", "teachers"), Port("student", "student")),
                 outputs=(Port("run", "run"), Port("status", "text")),
                 params=(Param("run_name", "text", "pipeline-run", "Run name"),
                         Param("loss", "choice", "kl", "Loss", ("kl", "rkl", "jsd")),
                         Param("temperature", "slider", 2.0, "Temperature", minimum=0.5, maximum=8.0),
                         Param("hidden_weight", "number", 0.0, "Hidden-state weight", minimum=0.0),
                         Param("epochs", "integer", 1, "Epochs", minimum=1, maximum=10000),
                         Param("max_steps", "integer", 0, "Max steps (0: all)", minimum=0, maximum=10_000_000),
                         Param("max_length", "integer", 256, "Max sequence length", minimum=8, maximum=32768),
                         Param("lr", "number", 5e-4, "Learning rate", minimum=1e-7, maximum=1.0),
                         Param("lora_rank", "integer", 0, "LoRA rank (0: train all weights)", minimum=0, maximum=1024),
                         Param("teacher_cache_top_k", "integer", 0, "Teacher cache top-k (0: live teachers)",
                               minimum=0, maximum=4096),
                         Param("gradient_checkpointing", "bool", False, "Gradient checkpointing")),
                 description="Trains the student (or resumes the run of that name).", blocking=True),
        NodeType("distill.evaluate", "Evaluate", "Distillation", _evaluate, inputs=(Port("run", "run"),),
                 outputs=(Port("metrics", "json"),), blocking=True,
                 description="Held-out perplexity of student and teacher, top-1 agreement."),
        NodeType("distill.export", "Export", "Distillation", _export, inputs=(Port("run", "run"),),
                 outputs=(Port("path", "text"),), description="Where the trained student was saved."),
    ]
