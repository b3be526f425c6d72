"""A distillation run: teachers and student loaded, data ordered, steps taken, checkpoints and state kept so a
stopped run resumes to exactly the weights an unstopped one reaches (same machine)."""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nexus_core.distill.data import load_samples, split_and_order, token_blocks
from nexus_core.distill.distributed import (
    World,
    average_gradients,
    average_values,
    barrier,
    broadcast_parameters,
    current_world,
)
from nexus_core.distill.losses import (
    LossConfig,
    ModelOutputs,
    build_projections,
    distillation_loss,
    layer_importance,
)
from nexus_core.distill.outputs import (
    Blocks,
    head_at_positions_matches,
    kept_positions,
    next_tokens,
    outputs_at,
    routed_outputs,
)
from nexus_core.distill.sli_cache import SliTeacherOutputs, sample_rows
from nexus_core.distill.state import (
    DistillConfig,
    RunState,
    RunStateError,
    checkpoint_dirs,
    load_state,
    prune_checkpoints,
    save_state,
)
from nexus_core.distill.teacher_cache import TeacherCache, cache_key
from nexus_core.errors import NexusError
from nexus_core.memory import release_memory

log = logging.getLogger(__name__)
HISTORY_KEEP = 5000


class DistillError(NexusError):
    """The run cannot start or go on (models, tokenizers, data, the run folder)."""


@dataclass
class StepReport:
    step: int
    total_steps: int
    parts: dict[str, float]
    lr: float
    tokens: int
    seconds: float


Progress = Callable[[StepReport], None]
Phase = Callable[[str, float], None]  # (what is happening, fraction done) before training starts


def _prepare_run_dir(run_dir: Path) -> None:
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".write-probe"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise DistillError(f"The run folder cannot be written: {exc.strerror or exc}.", path=run_dir,
                           hint="Pick a folder you can write to (--out).") from None


class DistillRun:
    def __init__(self, run_dir: Path, state: RunState) -> None:
        self.run_dir = run_dir
        self.state = state
        self.config = state.config

    # ---- creating and resuming ----------------------------------------------------------------------

    @classmethod
    def create(cls, run_dir: Path, config: DistillConfig) -> DistillRun:
        world = current_world()
        if not world.main:  # under torchrun, rank 0 creates the run; the others then read it
            barrier(world)
            return cls.resume(run_dir)
        problems = config.problems()
        if problems:
            raise DistillError("The run settings do not work together: " + "; ".join(problems) + ".",
                               hint="Change the settings named above.")
        _prepare_run_dir(run_dir)
        if (run_dir / ".pipeline_state.json").exists():
            raise DistillError("The run folder already holds a run.", path=run_dir,
                               hint=f"Resume it with: nexus distill --resume {run_dir}, or pick another --out.")
        if config.teacher_outputs:  # a layer-streaming pass: its rows are the samples
            count = len(sample_rows(Path(config.teacher_outputs), config.max_length))
            summary = f"{count} samples from the layer-streaming pass in {config.teacher_outputs}"
        else:
            samples, report = load_samples(Path(config.data))
            count, summary = len(samples), report.summary()
        train, held = split_and_order(count, seed=config.seed, sample_size=config.sample_size,
                                      held_out=config.held_out)
        state = RunState(config, train, held, data_summary=summary)
        run = cls(run_dir, state)
        save_state(run_dir, state)
        barrier(world)
        return run

    @classmethod
    def resume(cls, run_dir: Path, *, max_steps: int | None = None) -> DistillRun:
        _prepare_run_dir(run_dir)
        state = load_state(run_dir)
        if max_steps is not None:
            state.config.max_steps = max_steps  # the only setting a resume may move: where to stop
        return cls(run_dir, state)

    # ---- models ------------------------------------------------------------------------------------

    def _setup_device(self) -> None:
        import torch

        from nexus_core.models.devices import pick_device_and_dtype

        device, dtype_name = pick_device_and_dtype(self.config.device, self.config.dtype)
        self.world = current_world()
        if device == "cuda" and self.world.size > 1:
            device = f"cuda:{self.world.local_rank}"
        self.device = device
        self.dtype_name = dtype_name
        # Mixed precision on CUDA: bf16 where the card has it; fp16 (with loss scaling) on older cards.
        self.autocast = {"bfloat16": torch.bfloat16, "float16": torch.float16}.get(dtype_name) \
            if device.startswith("cuda") else None
        self.scaler = torch.amp.GradScaler("cuda") if self.autocast is torch.float16 else None
        self.teachers: dict[str, Any] = {}
        self.fast_teachers: dict[str, bool] = {}  # whose output head may run at the kept positions only
        self.cache: TeacherCache | None = None

    def _load_teacher_meta(self) -> None:
        """Each teacher's config and tokenizer (not its weights): enough to tokenize the data, size the student
        and check that the teachers share one vocabulary."""
        from nexus_core.models.detect import inspect_model
        from nexus_core.models.loader import load_preprocessors, resolve_config

        tokenizer = None
        vocab: dict[str, int] | None = None
        self.teacher_config: Any = None
        for _domain, path in sorted(self.config.teachers.items()):
            try:
                info = inspect_model(path)
                if info.category == "unknown" or not info.shards:
                    raise DistillError(f"Teacher {path!r} is not a model folder (no config.json or no weights).",
                                       path=path, hint="Pick the folder that holds the teacher's config.json.")
                model_config, _note = resolve_config(info, False)
                loaded_tokenizer, _processor, note = load_preprocessors(info)
            except DistillError:
                raise
            except NexusError as exc:
                raise DistillError(f"Teacher {path!r} cannot be loaded: {exc.what}", path=path, hint=exc.hint) from exc
            if loaded_tokenizer is None or not hasattr(model_config, "vocab_size"):
                raise DistillError(f"Teacher {path!r} is not a causal language model with a tokenizer"
                                   + (f" ({note})" if note else "") + ".", path=path)
            if vocab is not None and loaded_tokenizer.get_vocab() != vocab:
                raise DistillError(f"Teacher {path!r} uses a different tokenizer from the other teachers.", path=path,
                                   hint="Distil from teachers of one model family (the same tokenizer).")
            vocab = loaded_tokenizer.get_vocab()
            tokenizer = tokenizer or loaded_tokenizer
            self.teacher_config = self.teacher_config or model_config
        assert tokenizer is not None
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.tokenizer = tokenizer
        self.vocab = vocab or {}

    def _load_teachers(self) -> None:
        """The teachers' weights, frozen, on the training device (once)."""
        from nexus_core.models.loader import load_model

        if self.teachers:
            return
        for domain, path in sorted(self.config.teachers.items()):
            try:
                loaded = load_model(path, device=self.device, dtype=self.dtype_name)
            except NexusError as exc:
                raise DistillError(f"Teacher {path!r} cannot be loaded: {exc.what}", path=path, hint=exc.hint) from exc
            if not hasattr(loaded.model, "lm_head"):
                raise DistillError(f"Teacher {path!r} is not a causal language model.", path=path)
            model = self._set_attention(loaded.model).eval()
            for param in model.parameters():
                param.requires_grad_(False)
            self.teachers[domain] = model
            self.fast_teachers[domain] = head_at_positions_matches(model, self._sample_batch())

    def _release_teachers(self) -> None:
        self.teachers = {}
        self.fast_teachers = {}
        release_memory()

    def _set_attention(self, model: Any) -> Any:
        """SDPA where the model supports it (``auto``), else eager attention; or what the run asks for."""
        wanted = self.config.attention
        if wanted == "auto":
            wanted = "sdpa" if getattr(model, "_supports_sdpa", False) else "eager"
        if getattr(model.config, "_attn_implementation", None) != wanted:
            try:
                model.set_attn_implementation(wanted)
            except (ValueError, ImportError) as exc:
                raise DistillError(f"{type(model).__name__} cannot use {wanted} attention: {exc}",
                                   hint="Choose another attention implementation (auto picks one that works).") \
                    from exc
        return model

    def _load_student(self) -> None:
        import torch
        import transformers

        from nexus_core.models.loader import load_model

        torch.manual_seed(self.config.seed)
        teacher_config = self.teacher_config
        student_spec = self.config.student
        if student_spec == "half" or student_spec.endswith(".json"):
            base = teacher_config.to_dict()
            if student_spec == "half":
                heads = max(1, base.get("num_attention_heads", 2) // 2)
                base.update(hidden_size=base["hidden_size"] // 2, num_hidden_layers=max(1, base[
                    "num_hidden_layers"] // 2), intermediate_size=base.get("intermediate_size", 4 * base[
                        "hidden_size"]) // 2, num_attention_heads=heads,
                    num_key_value_heads=min(heads, base.get("num_key_value_heads") or heads))
            else:
                try:
                    base.update(json.loads(Path(student_spec).read_text(encoding="utf-8")))
                except (OSError, json.JSONDecodeError) as exc:
                    raise DistillError(f"The student config cannot be read: {exc}", path=student_spec) from None
            config = type(teacher_config).from_dict(base)
            student = transformers.AutoModelForCausalLM.from_config(config)
        else:
            try:
                loaded = load_model(student_spec, device="cpu", dtype="float32")
            except NexusError as exc:
                raise DistillError(f"The student {student_spec!r} cannot be loaded: {exc.what}", path=student_spec,
                                   hint=exc.hint) from exc
            if loaded.tokenizer is not None and loaded.tokenizer.get_vocab() != self.vocab:
                raise DistillError("The student's tokenizer differs from the teacher's; logits cannot be compared "
                                   "token for token.", path=student_spec,
                                   hint="Use a student of the teacher's family, or 'half' to derive one.")
            student = loaded.model
        if student.config.vocab_size > teacher_config.vocab_size + 256 or \
                student.config.vocab_size < len(self.tokenizer):
            raise DistillError(f"The student's vocabulary ({student.config.vocab_size}) does not fit the teacher's "
                               f"tokenizer ({len(self.tokenizer)} tokens).",
                               hint="Use a student of the teacher's family.")
        student = self._set_attention(student).to(self.device).float()
        if self.config.gradient_checkpointing:
            student.config.use_cache = False
            if hasattr(student, "activation_checkpointing_enable"):  # the transformers 5 name
                student.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
            else:
                student.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        if self.config.lora_rank:
            student = self._with_lora(student)
        self.student = student.train()
        self.student_forward = torch.compile(student) if self.config.compile else student
        self.fast_student = not self.config.compile and head_at_positions_matches(student, self._sample_batch())
        width_s, width_t = student.config.hidden_size, teacher_config.hidden_size
        self.projections = build_projections(width_s, width_t, student.config.num_hidden_layers).to(self.device)
        broadcast_parameters([self.student, self.projections], self.world)

    def _with_lora(self, student: Any) -> Any:
        try:
            from peft import LoraConfig, get_peft_model
        except ImportError:
            raise DistillError("A LoRA student needs the peft library, which is not installed.",
                               hint="Install the ML extras (./setup.sh install), or set the LoRA rank to 0.") from None
        rank = self.config.lora_rank
        lora = LoraConfig(r=rank, lora_alpha=self.config.lora_alpha or 2 * rank, lora_dropout=0.0,
                          target_modules="all-linear", task_type="CAUSAL_LM")
        return get_peft_model(student, lora)

    def _cache_rows(self, chunk: Blocks) -> tuple[Any, list[int]]:
        """The teachers' logits for the cache: kept positions of each block (N × V) and how many per block."""
        batch = self._batch(chunk)
        keep = kept_positions(batch)
        return self._teacher_outputs(batch, chunk, keep, False).logits, keep.sum(dim=1).tolist()

    def _prepare_teacher_cache(self, phase: Phase | None) -> None:
        """Open the run's top-k teacher cache, building it first when missing or stale; the teachers are then
        released so only the student is resident while training."""
        top_k = self.config.teacher_cache_top_k
        vocab = min(self.teacher_config.vocab_size, self.student.config.vocab_size)
        key = cache_key(teachers=self.config.teachers, top_k=top_k, temperature=self.config.temperature,
                        vocab=vocab, blocks=self.train_blocks)
        if self.world.main:
            cache = TeacherCache.open(self.run_dir, key)
            if cache is None:
                self._load_teachers()
                report = (lambda done, total: phase(f"Caching teacher outputs: {done}/{total} blocks",
                                                    done / total)) if phase else None
                TeacherCache.build(self.run_dir, key, self.train_blocks, top_k=min(top_k, vocab),
                                   temperature=self.config.temperature, vocab=vocab,
                                   batch_size=self.config.batch_size, progress=report,
                                   teacher_logits=self._cache_rows)
        barrier(self.world)
        self.cache = TeacherCache.open(self.run_dir, key)
        if self.cache is None:
            raise DistillError("The teacher cache was built but cannot be read back.",
                               path=self.run_dir / "teacher_cache",
                               hint="Check the disk (space, permissions), then resume the run.")
        self._release_teachers()

    def _blocks(self) -> None:
        if self.config.teacher_outputs:  # one block per sample of the pass, no packing (its logits are per row)
            rows = sample_rows(Path(self.config.teacher_outputs), self.config.max_length)
            self.train_blocks = [(rows[i], "") for i in self.state.order if len(rows[i]) >= 2]
            self.held_blocks = [(rows[i], "") for i in self.state.held_out if len(rows[i]) >= 2]
            if len(self.train_blocks) != len(self.state.order):
                raise DistillError("Some samples of the layer-streaming pass are shorter than two tokens.",
                                   path=self.config.teacher_outputs, hint="Run the pass on longer samples.")
            return
        samples, _report = load_samples(Path(self.config.data))
        self.train_blocks = token_blocks(samples, self.state.order, self.tokenizer,
                                         max_length=self.config.max_length, pack=self.config.pack)
        self.held_blocks = token_blocks(samples, self.state.held_out, self.tokenizer,
                                        max_length=self.config.max_length, pack=self.config.pack)
        if not self.train_blocks:
            raise DistillError("The data gives no training blocks (every sample is shorter than two tokens).",
                               path=self.config.data)

    @property
    def blocks_per_step(self) -> int:
        """Blocks one optimizer step consumes across all processes."""
        return self.config.batch_size * self.config.grad_accum * getattr(self, "world", World()).size

    def total_steps(self) -> int:
        per_epoch = -(-len(self.train_blocks) // self.blocks_per_step)
        total = per_epoch * self.config.epochs
        return min(total, self.config.max_steps) if self.config.max_steps else total

    def _batch(self, blocks: list[tuple[list[int], str]]) -> dict[str, Any]:
        import torch

        width = max(len(ids) for ids, _ in blocks)
        pad = self.tokenizer.pad_token_id
        ids = torch.full((len(blocks), width), pad, dtype=torch.long)
        mask = torch.zeros((len(blocks), width), dtype=torch.long)
        for row, (tokens, _domain) in enumerate(blocks):
            ids[row, :len(tokens)] = torch.tensor(tokens)
            mask[row, :len(tokens)] = 1
        return {"input_ids": ids.to(self.device), "attention_mask": mask.to(self.device)}

    def _teacher_for(self, domain: str) -> Any:
        return self.teachers.get(domain) or self.teachers.get("") or next(iter(self.teachers.values()))

    # ---- training ----------------------------------------------------------------------------------

    def _optimizer(self) -> tuple[Any, Any]:
        import torch

        params = [p for p in self.student.parameters() if p.requires_grad] + list(self.projections.parameters())
        optimizer = torch.optim.AdamW(params, lr=self.config.lr, weight_decay=0.0)
        warmup, total = self.config.warmup_steps, max(1, self.total_steps())

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / max(1, warmup)
            return max(0.0, (total - step) / max(1, total - warmup))

        return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, factor)

    def prepare(self, phase: Phase | None = None) -> tuple[Any, Any]:
        """Load the models and data and restore the newest checkpoint; returns (optimizer, scheduler)."""
        self._setup_device()
        self._load_teacher_meta()
        self._blocks()
        self._load_student()
        if self.config.teacher_outputs:
            self.cache = SliTeacherOutputs(Path(self.config.teacher_outputs), self.state.order,
                                           self.config.temperature)
        elif self.config.teacher_cache_top_k:
            self._prepare_teacher_cache(phase)
        else:
            self._load_teachers()
        optimizer, scheduler = self._optimizer()
        self._restore(optimizer, scheduler)
        return optimizer, scheduler

    def run(self, *, progress: Progress | None = None, should_stop: Callable[[], bool] = lambda: False,
            phase: Phase | None = None) -> RunState:
        """Train until the step budget, the data, or ``should_stop``; checkpoints and state are saved on the way
        and at the end (a stop saves first, so the run resumes exactly). ``phase`` hears about the work before
        the first step (building the teacher cache)."""
        import torch

        if self.state.status == "finished":
            return self.state
        optimizer, scheduler = self.prepare(phase)
        loss_config = self._loss_config()
        total = self.total_steps()
        per_step = self.blocks_per_step
        world = self.world
        params = [p for p in self.student.parameters() if p.requires_grad] + list(self.projections.parameters())
        self.state.status = "running"
        if world.main:
            save_state(self.run_dir, self.state)
        while self.state.step < total:
            if should_stop():
                self.state.status = "stopped"
                break
            if self.state.position + per_step > len(self.train_blocks):
                self.state.epoch += 1
                self.state.position = 0
            started = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            parts_sum: dict[str, float] = {}
            tokens = 0
            rank_offset = world.rank * self.config.batch_size * self.config.grad_accum
            for micro in range(self.config.grad_accum):
                start = self.state.position + rank_offset + micro * self.config.batch_size
                chunk = self.train_blocks[start:start + self.config.batch_size]
                if not chunk:
                    continue
                batch = self._batch(chunk)
                tokens += int(batch["attention_mask"].sum())
                terms = self._forward(batch, chunk, start, loss_config)
                loss = terms.total / self.config.grad_accum
                (self.scaler.scale(loss) if self.scaler is not None else loss).backward()
                for key, value in terms.parts.items():
                    parts_sum[key] = parts_sum.get(key, 0.0) + value / self.config.grad_accum
            average_gradients(params, world)
            parts_sum = average_values(parts_sum, world)
            if self.scaler is not None:
                self.scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            if self.scaler is not None:
                self.scaler.step(optimizer)
                self.scaler.update()
            else:
                optimizer.step()
            scheduler.step()
            self.state.position += per_step
            self.state.step += 1
            lr = scheduler.get_last_lr()[0]
            entry = {"step": self.state.step, "lr": lr, **{k: round(v, 6) for k, v in parts_sum.items()}}
            self.state.history.append(entry)
            del self.state.history[:-HISTORY_KEEP]
            if progress is not None and world.main:
                progress(StepReport(self.state.step, total, parts_sum, lr, tokens, time.perf_counter() - started))
            if self.state.step % self.config.checkpoint_every == 0:
                self.checkpoint(optimizer, scheduler)
        else:
            self.state.status = "finished"
        self.checkpoint(optimizer, scheduler)
        if self.state.status == "finished" and world.main:
            self.export()
        barrier(world)
        return self.state

    def _loss_config(self) -> LossConfig:
        critical = self.config.critical_layers
        if critical == "auto":
            calibration = self._batch(self.train_blocks[: self.config.batch_size])
            self.student.eval()
            critical = layer_importance(self.student, calibration)
            self.student.train()
            self.state.results["critical_layers"] = critical
        return LossConfig(self.config.divergence, self.config.temperature, self.config.jsd_beta,
                          self.config.logit_weight, self.config.hidden_weight, self.config.ce_weight,
                          tuple(int(i) for i in critical), self.config.critical_multiplier)

    def _sample_batch(self) -> dict[str, Any]:
        """Two training blocks: enough to check that a model's output head may run at kept positions only."""
        return self._batch(self.train_blocks[: min(2, len(self.train_blocks))])

    def _teacher_outputs(self, batch: dict[str, Any], chunk: Blocks, keep: Any, hidden: bool) -> ModelOutputs:
        import torch

        domains = {domain for _ids, domain in chunk}
        models = {d: self._teacher_for(d) for d in domains}
        fast = {d: self.fast_teachers.get(d if d in self.teachers else "", False) for d in domains}
        with torch.no_grad():
            return routed_outputs(models, chunk, batch, keep, hidden=hidden, fast=fast)

    def _forward(self, batch: dict[str, Any], chunk: Blocks, start: int, loss_config: LossConfig) -> Any:
        """The loss of one micro-batch (``chunk`` = train blocks ``start…``) against the live or cached teachers."""
        import contextlib

        import torch

        hidden = loss_config.hidden_weight > 0
        keep = kept_positions(batch)
        labels = next_tokens(batch, keep)
        autocast = (torch.autocast("cuda", dtype=self.autocast) if self.autocast is not None
                    else contextlib.nullcontext())
        with autocast:
            if self.cache is not None:
                rows = self.cache.rows(start, len(chunk), batch["input_ids"].shape[1], self.device)
                topk = tuple(x[:, :-1][keep] for x in rows)
                student = outputs_at(self.student_forward, batch, keep, hidden=False, fast=self.fast_student)
                return distillation_loss(student, None, labels, batch["attention_mask"], self.projections,
                                         loss_config, teacher_topk=topk)
            teacher = self._teacher_outputs(batch, chunk, keep, hidden)
            student = outputs_at(self.student_forward, batch, keep, hidden=hidden, fast=self.fast_student)
            return distillation_loss(student, teacher, labels, batch["attention_mask"], self.projections, loss_config)

    # ---- checkpoints -------------------------------------------------------------------------------

    def checkpoint(self, optimizer: Any, scheduler: Any) -> Path:
        import torch

        folder = self.run_dir / "checkpoints" / f"step-{self.state.step:06d}"
        world = getattr(self, "world", World())
        if not world.main:
            barrier(world)  # rank 0 writes; the others wait so nobody reads a half-written checkpoint
            return folder
        partial = folder.with_name(folder.name + ".partial")
        partial.mkdir(parents=True, exist_ok=True)
        saved = {"student": self._trained_weights(), "projections": self.projections.state_dict(),
                 "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                 "torch_rng": torch.get_rng_state(), "python_rng": list(random.getstate()[1]),
                 "step": self.state.step}
        if self.scaler is not None:
            saved["scaler"] = self.scaler.state_dict()
        torch.save(saved, partial / "training.pt")
        if folder.exists():
            import shutil

            shutil.rmtree(folder)
        partial.rename(folder)
        self.state.checkpoint = folder.relative_to(self.run_dir).as_posix()
        save_state(self.run_dir, self.state)
        prune_checkpoints(self.run_dir)
        barrier(world)
        return folder

    def _restore(self, optimizer: Any, scheduler: Any) -> None:
        """Load the newest readable checkpoint; a damaged one is skipped (with a log line) for the one before."""
        import torch

        if self.state.checkpoint is None:
            return
        for folder in checkpoint_dirs(self.run_dir):
            try:
                saved = torch.load(folder / "training.pt", map_location=self.device, weights_only=True)
                missing = set(self._trained_weights()) - set(saved["student"])
                if missing:
                    raise KeyError(f"the checkpoint lacks {len(missing)} trained tensors ({sorted(missing)[0]} …)")
                self.student.load_state_dict(saved["student"], strict=not self.config.lora_rank)
                self.projections.load_state_dict(saved["projections"])
                optimizer.load_state_dict(saved["optimizer"])
                scheduler.load_state_dict(saved["scheduler"])
                if self.scaler is not None and "scaler" in saved:
                    self.scaler.load_state_dict(saved["scaler"])
                torch.set_rng_state(saved["torch_rng"].cpu())
            except Exception as exc:  # a truncated or corrupt file: fall back to the previous checkpoint
                log.warning("checkpoint %s unreadable (%s); trying an older one", folder, exc)
                continue
            step = int(saved["step"])
            if step != self.state.step:  # the state moved past this checkpoint: rewind it to match
                self._rewind_to(step)
            return
        raise RunStateError("No checkpoint of this run can be read.", path=self.run_dir / "checkpoints",
                            hint="Start the run again; the data order and settings are in .pipeline_state.json.")

    def _trained_weights(self) -> dict[str, Any]:
        """The student tensors training changes: all of them, or only the adapters of a LoRA student (its frozen
        base weights are re-read from the student folder on resume)."""
        weights = self.student.state_dict()
        if not self.config.lora_rank:
            return weights
        trained = {name for name, param in self.student.named_parameters() if param.requires_grad}
        return {name: tensor for name, tensor in weights.items() if name in trained}

    def _rewind_to(self, step: int) -> None:
        per_step = self.blocks_per_step
        blocks = len(self.train_blocks)
        position = 0
        epoch = 0
        for _ in range(step):
            if position + per_step > blocks:
                epoch += 1
                position = 0
            position += per_step
        self.state.step, self.state.position, self.state.epoch = step, position, epoch
        self.state.history = [h for h in self.state.history if h.get("step", 0) <= step]

    # ---- results -----------------------------------------------------------------------------------

    def evaluate(self) -> dict[str, float]:
        """Held-out perplexity of the student and each teacher, and top-1 agreement with the teacher."""
        import math

        import torch
        import torch.nn.functional as F  # noqa: N812

        if self.config.teacher_outputs:
            return self._evaluate_from_pass()
        self._load_teachers()  # a run with a teacher cache freed them; perplexities need the real thing
        self.student.eval()
        totals = {"student_nll": 0.0, "teacher_nll": 0.0, "agree": 0.0, "tokens": 0.0}
        with torch.no_grad():
            for start in range(0, len(self.held_blocks), self.config.batch_size):
                chunk = self.held_blocks[start:start + self.config.batch_size]
                batch = self._batch(chunk)
                keep = kept_positions(batch)
                labels = next_tokens(batch, keep)
                s_logits = outputs_at(self.student, batch, keep, hidden=False, fast=self.fast_student).logits.float()
                t_logits = self._teacher_outputs(batch, chunk, keep, False).logits.float()
                vocab = min(s_logits.shape[-1], t_logits.shape[-1])
                for name, logits in (("student_nll", s_logits), ("teacher_nll", t_logits)):
                    totals[name] += float(F.cross_entropy(logits, labels, reduction="sum"))
                totals["agree"] += float((s_logits[:, :vocab].argmax(-1) == t_logits[:, :vocab].argmax(-1)).sum())
                totals["tokens"] += float(labels.numel())
        self.student.train()
        tokens = max(totals["tokens"], 1.0)
        results = {"student_perplexity": math.exp(totals["student_nll"] / tokens),
                   "teacher_perplexity": math.exp(totals["teacher_nll"] / tokens),
                   "top1_agreement": totals["agree"] / tokens, "held_out_tokens": int(totals["tokens"])}
        self.state.results.update(results)
        if getattr(self, "world", World()).main:
            save_state(self.run_dir, self.state)
        return results

    def _evaluate_from_pass(self) -> dict[str, float]:
        """Held-out student perplexity and top-1 agreement with the streamed teacher's cached top-1 (its
        perplexity needs logits the pass did not keep, so it is not reported)."""
        import math

        import torch
        import torch.nn.functional as F  # noqa: N812

        teacher = SliTeacherOutputs(Path(str(self.config.teacher_outputs)), self.state.held_out, 1.0)
        self.student.eval()
        nll = agree = tokens = 0.0
        with torch.no_grad():
            for start in range(0, len(self.held_blocks), self.config.batch_size):
                chunk = self.held_blocks[start:start + self.config.batch_size]
                batch = self._batch(chunk)
                keep = kept_positions(batch)
                labels = next_tokens(batch, keep)
                s_logits = outputs_at(self.student, batch, keep, hidden=False, fast=self.fast_student).logits.float()
                _values, indices = teacher.rows(start, len(chunk), batch["input_ids"].shape[1], self.device)
                nll += float(F.cross_entropy(s_logits, labels, reduction="sum"))
                agree += float((s_logits.argmax(-1) == indices[:, :-1][keep][:, 0]).sum())
                tokens += float(labels.numel())
        self.student.train()
        results = {"student_perplexity": math.exp(nll / max(tokens, 1.0)), "top1_agreement": agree / max(tokens, 1.0),
                   "held_out_tokens": int(tokens)}
        self.state.results.update(results)
        if getattr(self, "world", World()).main:
            save_state(self.run_dir, self.state)
        return results

    def export(self) -> Path:
        """The student as a plain model folder in ``<run>/student`` (a LoRA student's adapters are merged into a
        copy, and also saved on their own in ``<run>/student-adapter``)."""
        import copy

        target = self.run_dir / "student"
        model = self.student
        if self.config.lora_rank:
            self.student.save_pretrained(self.run_dir / "student-adapter")
            model = copy.deepcopy(self.student).merge_and_unload()
        if self.config.gradient_checkpointing:
            model.config.use_cache = True  # the exported model is for generation
        model.save_pretrained(target)
        self.tokenizer.save_pretrained(target)
        return target
