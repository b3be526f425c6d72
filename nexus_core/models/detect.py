"""Inspect a model folder from its files alone: category, architecture, parameter count, size, dtype.

Only ``json`` and raw safetensors/npy headers are read, never torch or transformers, so inspecting
is cheap enough to run over a whole disk of models and safe on folders we could not load anyway.
"""

from __future__ import annotations

import ast
import json
import math
import re
import struct
import zipfile
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from nexus_core.errors import NexusError

CATEGORIES = ("causal_lm", "seq2seq", "vision_encoder", "asr", "tts", "diffusers", "sae", "multimodal", "encoder",
              "unknown")

# A real header is a few MB at most; a larger claim means the file is not safetensors (or is corrupt).
_MAX_HEADER_BYTES = 100 * 1024 * 1024

_ST_DTYPES = {
    "F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16", "F8_E4M3": "float8_e4m3fn",
    "F8_E5M2": "float8_e5m2", "I64": "int64", "I32": "int32", "I16": "int16", "I8": "int8", "U8": "uint8",
    "U16": "uint16", "U32": "uint32", "U64": "uint64", "BOOL": "bool",
}
_NPY_DTYPES = {"f8": "float64", "f4": "float32", "f2": "float16", "i8": "int64", "i4": "int32", "i2": "int16",
               "i1": "int8", "u1": "uint8", "b1": "bool"}

_ASR_TYPES = {"whisper", "wav2vec2", "wav2vec2-bert", "wav2vec2-conformer", "hubert", "wavlm", "speech_to_text",
              "speecht5", "moonshine", "data2vec-audio", "unispeech", "unispeech-sat", "sew", "sew-d"}
_TTS_TYPES = {"vits", "bark", "fastspeech2_conformer", "fastspeech2_conformer_with_hifigan"}  # text → waveform
_SEQ2SEQ_TYPES = {"t5", "mt5", "umt5", "longt5", "bart", "mbart", "pegasus", "pegasus_x", "marian", "m2m_100",
                  "nllb-moe", "fsmt", "prophetnet", "led", "blenderbot", "blenderbot-small", "plbart",
                  "bigbird_pegasus", "switch_transformers", "encoder-decoder", "mvp"}
_VISION_TYPES = {"vit", "clip_vision_model", "siglip_vision_model", "siglip2_vision_model", "dinov2",
                 "dinov2_with_registers", "convnext", "convnextv2", "resnet", "deit", "beit", "swin", "swinv2",
                 "vit_mae", "clip", "siglip", "siglip2", "efficientnet", "mobilevit", "regnet", "dinov3_vit",
                 "videomae", "vivit", "timesformer"}
_ENCODER_TYPES = {"bert", "roberta", "xlm-roberta", "deberta", "deberta-v2", "distilbert", "albert", "electra",
                  "camembert", "modernbert", "mpnet", "ernie", "roformer", "nomic_bert", "xlm", "flaubert"}
_MULTIMODAL_TYPES = {"llava", "llava_next", "llava_onevision", "qwen2_vl", "qwen2_5_vl", "idefics2", "idefics3",
                     "paligemma", "gemma3", "mllama", "blip-2", "instructblip", "smolvlm", "pixtral", "qwen2_audio",
                     "qwen2_5_omni", "kosmos-2", "florence2", "internvl", "aya_vision", "mistral3", "llama4"}
_SUB_CONFIGS = ("vision_config", "audio_config", "text_config")
_ENCODER_HEADS = ("ForMaskedLM", "ForSequenceClassification", "ForTokenClassification", "ForQuestionAnswering",
                  "ForMultipleChoice", "ForPreTraining")
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json", "vocab.txt",
                    "spiece.model", "sentencepiece.bpe.model")
_PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json", "video_preprocessor_config.json",
                    "feature_extractor_config.json")
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".npz", ".gguf", ".h5", ".msgpack")
SAE_WEIGHTS = ("sae_weights.safetensors", "params.npz")


class ModelFolderError(NexusError):
    """A model folder (or one of its files) cannot be read; the message names the file."""


@dataclass
class ModelInfo:
    """What a model folder holds, as far as its files tell without loading anything."""

    path: Path
    name: str
    category: str = "unknown"
    architecture: str | None = None
    model_type: str | None = None
    parameters: int = 0
    size_bytes: int = 0
    dtype: str | None = None
    custom_code: bool = False
    shards: list[str] = field(default_factory=list)
    has_tokenizer: bool = False
    has_processor: bool = False
    problems: list[str] = field(default_factory=list)
    pipeline_class: str | None = None
    components: dict[str, str] = field(default_factory=dict)
    base_model: str | None = None
    parameters_by_dtype: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (paths as strings) for ``nexus models inspect --json``."""
        d = asdict(self)
        d["path"] = str(self.path)
        return d


@dataclass
class _Weights:
    """Running totals over every weight file read so far."""

    parameters: int = 0
    size_bytes: int = 0
    dtypes: Counter[str] = field(default_factory=Counter)


def read_json(path: Path) -> Any:
    """Load a JSON file, turning every failure into a ModelFolderError that names the file and position."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelFolderError(f"Cannot read {path.name}: {exc}", path=path,
                               hint="Check the file exists and is readable.") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelFolderError(f"{path.name} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.",
                               path=path, hint="Fix or re-download the file.") from exc


def _read_json_object(path: Path) -> dict[str, Any]:
    data = read_json(path)
    if not isinstance(data, dict):
        raise ModelFolderError(f"{path.name} should hold a JSON object, not {type(data).__name__}.", path=path,
                               hint="Fix or re-download the file.")
    return data


def read_safetensors_header(path: Path) -> tuple[dict[str, Any], int, int]:
    """Return (tensor header, header length, file size); only the header is read, however big the file is."""
    try:
        with path.open("rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                raise ModelFolderError(f"{path.name} is truncated: it is shorter than a safetensors header.",
                                       path=path, hint="Re-download the file.")
            (length,) = struct.unpack("<Q", head)
            if length > _MAX_HEADER_BYTES:
                raise ModelFolderError(f"{path.name} is not a safetensors file (header claims {length} bytes).",
                                       path=path, hint="Re-download the file.")
            raw = fh.read(length)
            total = path.stat().st_size
    except OSError as exc:
        raise ModelFolderError(f"Cannot read {path.name}: {exc}", path=path,
                               hint="Check the file exists and is readable.") from exc
    if len(raw) < length:
        raise ModelFolderError(f"{path.name} is truncated: its header needs {length} bytes, only {len(raw)} remain.",
                               path=path, hint="Re-download the file.")
    try:
        header = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFolderError(f"{path.name} has a corrupt safetensors header: {exc}", path=path,
                               hint="Re-download the file.") from exc
    if not isinstance(header, dict):
        raise ModelFolderError(f"{path.name} has a corrupt safetensors header.", path=path, hint="Re-download it.")
    return header, length, total


def _add_safetensors(path: Path, acc: _Weights, problems: list[str]) -> None:
    header, header_len, total = read_safetensors_header(path)
    end = 0
    for key, meta in header.items():
        if key == "__metadata__" or not isinstance(meta, dict):
            continue
        count = math.prod(int(n) for n in meta.get("shape", []))
        acc.parameters += count
        acc.dtypes[_ST_DTYPES.get(str(meta.get("dtype")), str(meta.get("dtype")).lower())] += count
        offsets = meta.get("data_offsets") or [0, 0]
        end = max(end, int(offsets[-1]))
    acc.size_bytes += total
    if total < 8 + header_len + end:
        problems.append(f"{path.name} is truncated: its tensors need {8 + header_len + end} bytes, "
                        f"the file has {total}.")


def _add_npz(path: Path, acc: _Weights) -> None:
    """Count the arrays in a numpy ``.npz`` (Gemma-Scope SAEs) by reading each ``.npy`` header only."""
    try:
        with zipfile.ZipFile(path) as zf:
            for entry in zf.infolist():
                with zf.open(entry) as fh:
                    prefix = fh.read(10)
                    if prefix[:6] != b"\x93NUMPY":
                        continue
                    hlen = struct.unpack("<H", prefix[8:10])[0] if prefix[6] == 1 else struct.unpack(
                        "<I", prefix[8:10] + fh.read(2))[0]
                    meta = ast.literal_eval(fh.read(hlen).decode("latin-1"))
                count = math.prod(meta["shape"])
                acc.parameters += count
                acc.dtypes[_NPY_DTYPES.get(meta["descr"][1:], meta["descr"])] += count
        acc.size_bytes += path.stat().st_size
    except (OSError, zipfile.BadZipFile, ValueError, SyntaxError, KeyError, struct.error) as exc:
        raise ModelFolderError(f"{path.name} is not a readable .npz file: {exc}", path=path,
                               hint="Re-download the file.") from exc


def _list_files(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    except OSError as exc:
        raise ModelFolderError(f"Cannot list the folder: {exc}", path=folder,
                               hint="Check the folder exists and is readable.") from exc


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # a symlink loop, for one
        return False


def _add_weights(folder: Path, names: set[str], acc: _Weights, problems: list[str], prefix: str = "") -> list[str]:
    """Count the weight files of one folder (shards via the index when there is one); return their names."""
    shards: list[str] = []
    index_files = sorted(n for n in names if n.endswith(".safetensors.index.json"))
    indexed: set[str] = set()
    for index_name in index_files:
        index = _read_json_object(folder / index_name)
        weight_map = index.get("weight_map")
        if not isinstance(weight_map, dict):
            raise ModelFolderError(f"{index_name} has no weight_map.", path=folder / index_name,
                                   hint="Fix or re-download the file.")
        for shard in sorted(set(map(str, weight_map.values()))):
            indexed.add(shard)
            if shard not in names:
                problems.append(f"Shard {prefix}{shard} is named in {index_name} but missing.")
                continue
            _add_safetensors(folder / shard, acc, problems)
            shards.append(prefix + shard)
    for name in sorted(names):
        path = folder / name
        if name in indexed or not name.endswith(_WEIGHT_SUFFIXES) or not _is_file(path):
            continue
        if name.endswith(".safetensors"):
            _add_safetensors(path, acc, problems)
        elif name.endswith(".npz"):
            _add_npz(path, acc)
        else:
            acc.size_bytes += path.stat().st_size
            problems.append(f"{prefix}{name}: parameters not counted (only safetensors and npz headers are read).")
        shards.append(prefix + name)
    return shards


def _has_sub_configs(config: dict[str, Any]) -> bool:
    return any(isinstance(config.get(k), dict) for k in ("vision_config", "audio_config"))


def classify_config(config: dict[str, Any]) -> str:
    """Pick a category from a transformers ``config.json`` (model_type first, then the architecture suffix)."""
    archs = config.get("architectures") or []
    arch = str(archs[0]) if archs else ""
    mt = str(config.get("model_type") or "")
    if mt in _TTS_TYPES or arch.endswith(("ForTextToSpeech", "WithHifiGan")):
        return "tts"
    if mt in _ASR_TYPES or arch.endswith(("ForSpeechSeq2Seq", "ForCTC")):
        return "asr"
    if mt in _MULTIMODAL_TYPES or (
            _has_sub_configs(config) and arch.endswith(("ForConditionalGeneration", "ForImageTextToText"))):
        return "multimodal"
    if mt in _SEQ2SEQ_TYPES or arch.endswith("ForSeq2SeqLM") or (
            arch.endswith("ForConditionalGeneration") and config.get("is_encoder_decoder")):
        return "seq2seq"
    if mt in _VISION_TYPES or arch.endswith(("ForImageClassification", "ForImageFeatureExtraction")):
        return "vision_encoder"
    if mt in _ENCODER_TYPES or arch.endswith(_ENCODER_HEADS):
        return "encoder"
    if arch.endswith(("ForCausalLM", "LMHeadModel")) or (mt and not arch and not config.get("is_encoder_decoder")
                                                          and "vocab_size" in config):
        return "causal_lm"
    if arch.endswith("ForConditionalGeneration"):
        return "seq2seq"
    if arch.endswith("Model") and "vocab_size" in config and not config.get("is_encoder_decoder"):
        return "causal_lm"  # a decoder's base model (no LM head): loads through the cascade's AutoModel step
    return "unknown"


def _resolve_folder(path: Path) -> Path:
    try:
        exists = path.exists()
        is_dir = path.is_dir()
    except OSError as exc:
        raise ModelFolderError(f"Cannot read the model path: {exc}", path=path,
                               hint="Check for a symlink loop or a permission problem.") from exc
    if not exists:
        raise ModelFolderError("The model path does not exist.", path=path, hint="Check the spelling of the path.")
    if not is_dir:
        raise ModelFolderError("The model path is not a folder.", path=path,
                               hint="Pass the folder that holds config.json and the weights.")
    return path


def hf_cache_name(path: Path) -> str | None:
    """``org/name`` for a Hugging Face cache snapshot (``models--org--name/snapshots/<rev>``), else None."""
    parts = path.parts
    if len(parts) >= 3 and parts[-2] == "snapshots" and parts[-3].startswith("models--"):
        return "/".join(parts[-3].removeprefix("models--").split("--"))
    return None


def inspect_model(path: Path | str) -> ModelInfo:
    """Describe the model folder at ``path``; raise ModelFolderError naming the file when it cannot be read."""
    folder = _resolve_folder(Path(path))
    entries = _list_files(folder)
    if not entries:
        raise ModelFolderError("The model folder is empty.", path=folder,
                               hint="Download the model into it, or pick the folder that holds config.json.")
    names = {p.name for p in entries}
    info = ModelInfo(path=folder, name=hf_cache_name(folder) or folder.name)
    acc = _Weights()
    info.has_tokenizer = any(n in names for n in _TOKENIZER_FILES)
    info.has_processor = any(n in names for n in _PROCESSOR_FILES)

    if "model_index.json" in names:
        _inspect_diffusers(folder, info, acc)
    elif "cfg.json" in names or "params.npz" in names:
        _inspect_sae(folder, names, info)
        info.shards = _add_weights(folder, names, acc, info.problems)
    else:
        if "config.json" in names:
            config = _read_json_object(folder / "config.json")
            archs = config.get("architectures") or []
            info.architecture = str(archs[0]) if isinstance(archs, list) and archs else None
            info.model_type = str(config["model_type"]) if config.get("model_type") else None
            info.custom_code = "auto_map" in config
            info.category = classify_config(config)
            cfg_dtype = config.get("torch_dtype") or config.get("dtype")
            info.dtype = str(cfg_dtype) if cfg_dtype else None
        else:
            info.problems.append("No config.json, model_index.json or cfg.json: cannot tell what model this is.")
        info.shards = _add_weights(folder, names, acc, info.problems)

    info.parameters, info.size_bytes = acc.parameters, acc.size_bytes
    if acc.dtypes:
        info.dtype = acc.dtypes.most_common(1)[0][0]
        info.parameters_by_dtype = dict(acc.dtypes)
    if not info.shards and info.category not in ("unknown",):
        info.problems.append("No weight files found.")
    return info


def _inspect_diffusers(folder: Path, info: ModelInfo, acc: _Weights) -> None:
    index = _read_json_object(folder / "model_index.json")
    info.category = "diffusers"
    info.pipeline_class = str(index.get("_class_name") or "") or None
    info.architecture = info.pipeline_class
    info.custom_code = any(isinstance(v, list) and v and v[0] not in ("diffusers", "transformers", None)
                           and not str(v[0]).startswith(("diffusers", "transformers"))
                           for k, v in index.items() if not k.startswith("_"))
    for name, spec in sorted(index.items()):
        if name.startswith("_") or not isinstance(spec, list) or len(spec) != 2 or spec[1] is None:
            continue
        info.components[name] = f"{spec[0]}.{spec[1]}"
        sub = folder / name
        try:
            sub_is_dir = sub.is_dir()
        except OSError:
            sub_is_dir = False
        if not sub_is_dir:
            info.problems.append(f"Component folder {name}/ is named in model_index.json but missing.")
            continue
        sub_names = {p.name for p in _list_files(sub)}
        if "tokenizer" in name and any(n in sub_names for n in _TOKENIZER_FILES):
            info.has_tokenizer = True
        if any(n in sub_names for n in _PROCESSOR_FILES):
            info.has_processor = True
        for cfg_name in ("config.json", "scheduler_config.json"):
            if cfg_name in sub_names:
                _read_json_object(sub / cfg_name)  # malformed component configs are errors too
        info.shards += _add_weights(sub, sub_names, acc, info.problems, prefix=f"{name}/")


def _inspect_sae(folder: Path, names: set[str], info: ModelInfo) -> None:
    info.category = "sae"
    info.architecture = "sae"
    if "cfg.json" in names:
        cfg = _read_json_object(folder / "cfg.json")
        info.base_model = str(cfg["model_name"]) if cfg.get("model_name") else None
        info.architecture = str(cfg.get("architecture") or "sae")
        info.dtype = str(cfg["dtype"]) if cfg.get("dtype") else None
    if info.base_model is None:
        info.base_model = gemma_scope_base(folder)
    if not any(n in names for n in SAE_WEIGHTS):
        info.problems.append("cfg.json found but no sae_weights.safetensors or params.npz.")


_GEMMA_SCOPE = re.compile(r"gemma-scope-(\d+b)-(pt|it)")


def gemma_scope_base(folder: Path) -> str | None:
    """Gemma-Scope releases carry no config; their folder names say the base (``gemma-scope-2b-pt-res/...``)."""
    for part in reversed(folder.parts):
        match = _GEMMA_SCOPE.search(part)
        if match:
            size, variant = match.groups()
            return f"google/gemma-2-{size}" + ("-it" if variant == "it" else "")
    return None
