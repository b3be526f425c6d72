"""Load any model folder the detector understands: pick a class, check memory, stream the weights in.

Order of business: inspect the folder (no torch) → refuse early (incomplete folder, custom code without
consent, not enough memory) → resolve the config (mapping unknown model types to a compatible class)
→ try classes in cascade order, keeping the first whose parameters the checkpoint fills → stream the
weights onto the device → tokenizer or processor. ``load_model_safe`` wraps all of it in a result that
never raises, for callers that list many models.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nexus_core.errors import NexusError
from nexus_core.models.detect import ModelFolderError, ModelInfo, inspect_model
from nexus_core.models.devices import ModelLoadError, check_fits, estimate_bytes, pick_device_and_dtype
from nexus_core.models.streaming import (
    index_checkpoint,
    parameters_on_meta,
    plan_keys,
    stream_weights,
)

log = logging.getLogger(__name__)

# The cascade: tried in this order after the config's own architecture class (names absent from the
# installed transformers are skipped; AutoModelForVision2Seq became AutoModelForImageTextToText in v5).
CASCADE = ("AutoModelForCausalLM", "AutoModelForVision2Seq", "AutoModelForImageTextToText", "AutoModel",
           "AutoModelForSpeechSeq2Seq", "AutoModelForSeq2SeqLM")
FIRST_BY_CATEGORY = {"causal_lm": "AutoModelForCausalLM", "multimodal": "AutoModelForImageTextToText",
                     "asr": "AutoModelForSpeechSeq2Seq", "seq2seq": "AutoModelForSeq2SeqLM",
                     "vision_encoder": "AutoModel", "encoder": "AutoModel"}
_PROCESSOR_FIRST = ("multimodal", "asr", "vision_encoder")
# Model types some checkpoints use that transformers knows under another name (custom registrations).
_MODEL_TYPE_ALIASES: dict[str, str] = {"agent_cpm": "qwen3", "glm4_moe_lite": "glm4_moe"}
Progress = Callable[[int, int], None]


def register_model_alias(model_type: str, known_type: str) -> None:
    """Load configs of ``model_type`` as ``known_type`` (for forks that renamed an architecture)."""
    _MODEL_TYPE_ALIASES[model_type] = known_type


def model_type_alias(model_type: str | None) -> str | None:
    return _MODEL_TYPE_ALIASES.get(model_type or "")


@dataclass
class LoadedModel:
    """A model in memory with what came with it, and the facts the Models panel shows."""

    model: Any
    tokenizer: Any
    processor: Any
    info: ModelInfo
    device: str
    dtype: str
    strategy: str
    method: str
    seconds: float
    memory_bytes: int
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """JSON-ready facts (no tensors) for the CLI and the panel."""
        return {"path": str(self.info.path), "name": self.info.name, "category": self.info.category,
                "strategy": self.strategy, "method": self.method, "device": self.device, "dtype": self.dtype,
                "seconds": round(self.seconds, 3), "memory_bytes": self.memory_bytes,
                "tokenizer": type(self.tokenizer).__name__ if self.tokenizer is not None else None,
                "processor": type(self.processor).__name__ if self.processor is not None else None,
                "notes": list(self.notes)}


@dataclass
class LoadOutcome:
    """``load_model_safe``'s answer: the model, or an error a caller can show as is."""

    loaded: LoadedModel | None = None
    kind: str = ""
    message: str = ""
    path: str | None = None
    hint: str = ""

    @property
    def ok(self) -> bool:
        return self.loaded is not None

    def to_dict(self) -> dict[str, Any]:
        if self.loaded is not None:
            return {"ok": True, **self.loaded.summary()}
        return {"ok": False, "kind": self.kind, "error": self.message, "path": self.path, "hint": self.hint}


def load_model_safe(path: Path | str, **kwargs: Any) -> LoadOutcome:
    """``load_model`` that returns a structured error instead of raising (out-of-memory included)."""
    try:
        return LoadOutcome(load_model(path, **kwargs))
    except ModelLoadError as exc:
        return LoadOutcome(kind=exc.kind, message=exc.what, path=str(exc.path) if exc.path else None, hint=exc.hint)
    except ModelFolderError as exc:
        return LoadOutcome(kind="folder", message=exc.what, path=str(exc.path) if exc.path else None, hint=exc.hint)
    except NexusError as exc:
        return LoadOutcome(kind="failed", message=exc.what, hint=exc.hint)
    except MemoryError:
        return LoadOutcome(kind="memory", message="The computer ran out of memory while loading the model.",
                           path=str(path), hint="Unload other models or pick a smaller one.")
    except Exception as exc:  # anything transformers/torch raise: the point of this function is not to
        log.exception("loading %s failed", path)
        return LoadOutcome(kind="failed", message=f"Loading failed: {type(exc).__name__}: {exc}", path=str(path),
                           hint="See the log for details.")


def load_model(path: Path | str, *, device: str = "auto", dtype: str = "auto", trust_remote_code: bool = False,
               memory_budget: int | None = None, search_roots: list[Path] | None = None,
               progress: Progress | None = None) -> LoadedModel:
    """Load the model in ``path`` onto ``device``; raise ModelLoadError saying what is wrong and what to do."""
    try:
        return _load(path, device=device, dtype=dtype, trust_remote_code=trust_remote_code,
                     memory_budget=memory_budget, search_roots=search_roots, progress=progress)
    except ModelFolderError as exc:  # unreadable files found on the way: the same structured error
        raise ModelLoadError(exc.what, kind="folder", path=exc.path, hint=exc.hint) from exc


def _load(path: Path | str, *, device: str, dtype: str, trust_remote_code: bool, memory_budget: int | None,
          search_roots: list[Path] | None, progress: Progress | None) -> LoadedModel:
    started = time.monotonic()
    info = inspect_model(path)
    _refuse_incomplete(info)
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as exc:
        raise ModelLoadError(f"Loading models needs PyTorch and transformers ({exc}).", kind="dependency",
                             hint="Install the ML extras: pip install 'nexus-studio[ml]', or run ./setup.sh install.")\
            from exc
    resolved_device, dtype_name = pick_device_and_dtype(device, dtype)
    need = estimate_bytes(info.parameters_by_dtype, dtype_name) if info.parameters_by_dtype else info.size_bytes
    check_fits(need, resolved_device, dtype_name, name=info.name, budget=memory_budget)
    if info.category == "sae":
        loaded = _load_sae(info, resolved_device, dtype_name, search_roots or [])
    elif info.category == "diffusers":
        loaded = _load_diffusers(info, resolved_device, dtype_name, trust_remote_code)
    else:
        loaded = _load_transformers(info, resolved_device, dtype_name, trust_remote_code, progress)
    loaded.seconds = time.monotonic() - started
    log.info("loaded %s (%s via %s, %s) on %s in %.2f s", info.name, loaded.strategy, loaded.method, dtype_name,
             resolved_device, loaded.seconds)
    return loaded


def _refuse_incomplete(info: ModelInfo) -> None:
    for problem in info.problems:
        if "missing" in problem or "truncated" in problem:
            raise ModelLoadError(problem, kind="folder", path=info.path,
                                 hint="The download was interrupted or the folder was damaged: download it again.")
    if info.category == "unknown":
        raise ModelLoadError("Cannot tell what kind of model this is (no config.json, model_index.json or cfg.json).",
                             kind="not_supported", path=info.path,
                             hint="Pick the folder that holds the model's config.json.")
    if not info.shards:
        raise ModelLoadError("The folder has no weight files.", kind="folder", path=info.path,
                             hint="Download the weights (*.safetensors) into the folder.")


def memory_of(model: Any) -> int:
    """Bytes held by a model's parameters and buffers (shared tensors counted once)."""
    seen: set[int] = set()
    total = 0
    for tensor in [*model.parameters(), *model.buffers()]:
        if id(tensor) not in seen and tensor.device.type != "meta":
            seen.add(id(tensor))
            total += tensor.numel() * tensor.element_size()
    return total


def _load_sae(info: ModelInfo, device: str, dtype: str, roots: list[Path]) -> LoadedModel:
    from nexus_core.models.sae import base_model_tokenizer, load_sae

    model = load_sae(info, device, dtype)
    try:
        tokenizer, note = base_model_tokenizer(info, roots)
    except Exception as exc:  # a broken base-model tokenizer must not hide a good SAE
        tokenizer, note = None, f"No tokenizer: the base model's tokenizer failed to load ({exc})."
    return LoadedModel(model, tokenizer, None, info, device, dtype, "SparseAutoencoder", "direct", 0.0,
                       memory_of(model), [note])


def _load_diffusers(info: ModelInfo, device: str, dtype_name: str, trust_remote_code: bool) -> LoadedModel:
    """A whole diffusers pipeline (its components load through diffusers' own loader)."""
    import torch

    try:
        import diffusers
    except ImportError as exc:
        raise ModelLoadError(f"{info.name} is a diffusers pipeline ({info.pipeline_class}); diffusers is not "
                             "installed.", kind="dependency", path=info.path,
                             hint="Install the ML extras (./setup.sh install) to load image and video pipelines.")\
            from exc
    if info.custom_code and not trust_remote_code:
        raise ModelLoadError("The pipeline names components from outside diffusers and transformers; loading it "
                             "runs their code.", kind="consent", path=info.path / "model_index.json",
                             hint="Allow custom code (trust_remote_code) only for a source you trust.")
    try:
        major, minor = (int(x) for x in diffusers.__version__.split(".")[:2])
        dtype_key = "dtype" if (major, minor) >= (0, 42) else "torch_dtype"  # renamed in diffusers 0.42
        pipe = diffusers.DiffusionPipeline.from_pretrained(info.path, local_files_only=True,
                                                           trust_remote_code=trust_remote_code,
                                                           **{dtype_key: getattr(torch, dtype_name)})
    except Exception as exc:  # diffusers raises a wide range of types for damaged or foreign folders
        raise ModelLoadError(f"The pipeline in {info.path.name} does not load: {str(exc).splitlines()[0][:300]}",
                             kind="weights", path=info.path,
                             hint="A component folder may be damaged or incomplete: download the pipeline again."
                             ) from exc
    pipe = pipe.to(device)
    modules = [c for c in pipe.components.values() if isinstance(c, torch.nn.Module)]
    for module in modules:
        module.eval()
    memory = sum(memory_of(m) for m in modules)
    processor = getattr(pipe, "feature_extractor", None) or getattr(pipe, "image_processor", None)
    return LoadedModel(pipe, getattr(pipe, "tokenizer", None), processor, info, device, dtype_name,
                       type(pipe).__name__, "diffusers", 0.0, memory, [])


# ---- transformers models -------------------------------------------------------------------------


def resolve_config(info: ModelInfo, trust_remote_code: bool) -> tuple[Any, str | None]:
    """The model's config object, mapping an unknown model type to a compatible class; plus a note when mapped."""
    import transformers
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    folder = info.path
    if info.custom_code and not trust_remote_code:
        raise ModelLoadError("The folder ships its own model code (auto_map); loading it runs that code.",
                             kind="consent", path=folder / "config.json",
                             hint="Allow custom code (trust_remote_code) only for a source you trust.")
    if info.custom_code or info.model_type in CONFIG_MAPPING:
        try:
            return transformers.AutoConfig.from_pretrained(folder, local_files_only=True,
                                                           trust_remote_code=trust_remote_code), None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelLoadError(f"config.json cannot be used: {exc}", kind="folder", path=folder / "config.json",
                                 hint="Fix or re-download config.json.") from exc
    from nexus_core.models.detect import read_json

    raw = read_json(folder / "config.json")
    alias = model_type_alias(info.model_type)
    if alias and alias in CONFIG_MAPPING:
        return CONFIG_MAPPING[alias].from_dict({**raw, "model_type": alias}), \
            f"model type {info.model_type!r} loaded as {alias!r}"
    arch_cls = getattr(transformers, info.architecture or "", None)
    if isinstance(arch_cls, type) and getattr(arch_cls, "config_class", None) is not None:
        config_cls = arch_cls.config_class
        return config_cls.from_dict({**raw, "model_type": config_cls.model_type}), \
            f"model type {info.model_type!r} loaded with {info.architecture} (named in config.json)"
    raise ModelLoadError(f"transformers {transformers.__version__} does not know model type {info.model_type!r} "
                         f"and has no class {info.architecture!r}.", kind="not_supported",
                         path=folder / "config.json",
                         hint="Upgrade transformers, or register an alias to a known model type.")


def candidate_classes(info: ModelInfo, config: Any) -> list[tuple[str, Any]]:
    """(label, class) pairs in the order to try: the config's own architecture, then the cascade."""
    import transformers

    out: list[tuple[str, Any]] = []
    arch_cls = getattr(transformers, info.architecture or "", None)
    if isinstance(arch_cls, type) and not getattr(config, "auto_map", None):
        out.append((info.architecture or "", arch_cls))
    first = FIRST_BY_CATEGORY.get(info.category)
    for name in ([first] if first else []) + [n for n in CASCADE if n != first]:
        auto = getattr(transformers, name, None)
        if auto is not None and all(label != name for label, _ in out):
            out.append((name, auto))
    return out


def _build(label: str, cls: Any, config: Any, dtype: Any, trust_remote_code: bool) -> Any:
    """A skeleton with meta parameters; ``_from_config`` is what the auto classes call for a concrete class."""
    with parameters_on_meta():
        if label.startswith("Auto"):
            return cls.from_config(config, dtype=dtype, trust_remote_code=trust_remote_code)
        return cls._from_config(config, dtype=dtype)


def _load_transformers(info: ModelInfo, device: str, dtype_name: str, trust_remote_code: bool,
                       progress: Progress | None) -> LoadedModel:
    import torch

    dtype = getattr(torch, dtype_name)
    config, mapped = resolve_config(info, trust_remote_code)
    notes = [mapped] if mapped else []
    _files, sources = index_checkpoint(info.path)
    tried: list[str] = []
    first_built: tuple[str, Any] | None = None
    for label, cls in candidate_classes(info, config):
        try:
            skeleton = _build(label, cls, config, dtype, trust_remote_code)
        except (ValueError, KeyError, TypeError, AttributeError, ImportError) as exc:
            tried.append(f"{label}: {str(exc).splitlines()[0][:160]}")
            continue
        first_built = first_built or (label, cls)
        if not sources:
            break  # pickle checkpoints: only transformers' loader reads them
        rename, converts = library_renamer(skeleton, sources)
        if converts:
            tried.append(f"{label}: the checkpoint needs tensor conversions ({converts})")
            del skeleton
            break
        plan = plan_keys(skeleton, sources, rename)
        if plan.missing:
            tried.append(f"{label}: {len(plan.missing)} weights not in the checkpoint (e.g. {plan.missing[0]})")
            del skeleton
            continue
        try:
            report = stream_weights(skeleton, sources, device, rename=rename, progress=progress)
        except torch.cuda.OutOfMemoryError as exc:
            del skeleton
            torch.cuda.empty_cache()
            raise ModelLoadError(f"{info.name} ran out of GPU memory while loading on {device}.", kind="memory",
                                 path=info.path, hint="Unload other models, pick a smaller dtype or model, or use "
                                                      "the CPU.") from exc
        if report.unexpected:
            notes.append(f"{len(report.unexpected)} checkpoint tensors not used by {label} "
                         f"(e.g. {report.unexpected[0]}).")
        skeleton.eval()
        return _finish(info, skeleton, device, dtype_name, label, "streamed", notes)
    if first_built is None:
        raise ModelLoadError(f"No model class can be built from config.json ({'; '.join(tried)}).",
                             kind="not_supported", path=info.path / "config.json",
                             hint="This architecture needs a newer transformers, or its own code (trust_remote_code).")
    label, cls = first_built
    if sources and tried:
        notes.append("The checkpoint's tensor names needed conversion, so transformers' own loader was used "
                     f"(tried: {'; '.join(tried)}).")
    elif not sources:
        notes.append("Pickle (.bin) weights: loaded with transformers' own loader, which passes through host RAM. "
                     "Convert the model to safetensors to stream it.")
    model = _from_pretrained(info, cls, config, dtype, device, trust_remote_code)
    return _finish(info, model, device, dtype_name, label, "transformers", notes)


def library_renamer(model: Any, sources: dict[str, Any]) -> tuple[Any, str | None]:
    """transformers' own checkpoint renames for this model (legacy names), and whether any key needs a tensor
    conversion (fused experts, permutes) that only transformers' loader performs; (None, None) when it has none."""
    try:
        from transformers.conversion_mapping import get_model_conversion_mapping
        from transformers.core_model_loading import WeightRenaming, apply_converters, apply_renamings
    except ImportError:  # an older or newer transformers without this API: plain names only
        return None, None
    try:
        transforms = get_model_conversion_mapping(model)
    except Exception:  # the mapping code can fail on skeletons it was not written for; plain names then
        log.debug("no conversion mapping for %s", type(model).__name__, exc_info=True)
        return None, None
    renamings = [t for t in transforms if isinstance(t, WeightRenaming)]
    converters = [t for t in transforms if not isinstance(t, WeightRenaming)]
    for key in sources:
        _renamed, pattern = apply_converters(apply_renamings(key, renamings), converters)
        if pattern is not None:
            return None, pattern
    if not renamings:
        return None, None
    return (lambda key: apply_renamings(key, renamings)), None


def _from_pretrained(info: ModelInfo, cls: Any, config: Any, dtype: Any, device: str, trust_remote_code: bool) -> Any:
    try:
        model = cls.from_pretrained(info.path, config=config, dtype=dtype, local_files_only=True,
                                    trust_remote_code=trust_remote_code)
    except Exception as exc:
        raise ModelLoadError(f"The weights in {info.path.name} do not load: {str(exc).splitlines()[0][:300]}",
                             kind="weights", path=info.path,
                             hint="The weights do not match config.json, or the folder is damaged: download it "
                                  "again.") from exc
    return model.to(device).eval()


def _finish(info: ModelInfo, model: Any, device: str, dtype: str, strategy: str, method: str,
            notes: list[str]) -> LoadedModel:
    tokenizer, processor, note = load_preprocessors(info)
    if note:
        notes.append(note)
    return LoadedModel(model, tokenizer, processor, info, device, dtype, strategy, method, 0.0, memory_of(model),
                       notes)


def load_preprocessors(info: ModelInfo) -> tuple[Any, Any, str | None]:
    """(tokenizer, processor, note): processors first for vision/audio models, tokenizers for text."""
    import transformers

    folder = info.path
    tokenizer = processor = None
    problems: list[str] = []
    if info.has_processor:
        for name in ("AutoProcessor", "AutoImageProcessor", "AutoFeatureExtractor"):
            try:
                processor = getattr(transformers, name).from_pretrained(folder, local_files_only=True)
                break
            except Exception as exc:  # each auto class raises its own errors for files it does not know
                problems.append(f"{name}: {str(exc).splitlines()[0][:120]}")
        tokenizer = getattr(processor, "tokenizer", None)
    if tokenizer is None and info.has_tokenizer:
        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
        except Exception as exc:  # tokenizer libraries raise many error types for damaged files
            problems.append(f"tokenizer: {str(exc).splitlines()[0][:160]}")
    if tokenizer is None and processor is None:
        if problems:
            return None, None, f"The tokenizer/processor files did not load ({'; '.join(problems)})."
        wanted = "processor" if info.category in _PROCESSOR_FIRST else "tokenizer"
        return None, None, f"No {wanted} files in the folder: give the model its inputs yourself."
    return tokenizer, processor, None
