"""is_model_supported verdicts, scan_models over plain folders and the HF cache, and ``nexus models`` exit codes."""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from nexus_core.cli_models import add_parser
from nexus_core.errors import NexusError
from nexus_core.models import ModelFolderError, is_model_supported, scan_models
from tests.core.models.conftest import make_diffusers, make_multimodal, make_sae, write_json, write_weights


@pytest.mark.parametrize(("name", "strategy"), [
    ("llama", "LlamaForCausalLM"), ("t5", "T5ForConditionalGeneration"), ("bert", "BertModel"),
    ("vit", "ViTModel"), ("whisper", "WhisperForConditionalGeneration"),
])
def test_saved_models_are_supported(tiny_models, name: str, strategy: str) -> None:
    report = is_model_supported(tiny_models[name][0])
    assert report.supported and report.strategy == strategy and not report.needs_trust_remote_code


def test_multimodal_and_sae(tmp_path: Path) -> None:
    make_multimodal(tmp_path / "llava")
    make_sae(tmp_path / "sae")
    assert is_model_supported(tmp_path / "llava").strategy == "LlavaForConditionalGeneration"
    sae = is_model_supported(tmp_path / "sae")
    assert sae.supported and sae.strategy == "SAE weights + base model tokenizer" and "gemma-2-2b" in sae.reason


def test_diffusers_support_depends_on_diffusers_being_installed(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    make_diffusers(tmp_path / "sd")
    if importlib.util.find_spec("diffusers") is not None:
        report = is_model_supported(tmp_path / "sd")
        assert report.supported and report.strategy == "diffusers pipeline StableDiffusionPipeline"
    monkeypatch.setitem(sys.modules, "diffusers", None)  # as on a machine without the ML extras
    report = is_model_supported(tmp_path / "sd")
    assert not report.supported
    assert report.strategy == "diffusers pipeline (diffusers not installed)"
    assert "diffusers is not installed" in report.reason


def test_custom_code_needs_consent(tmp_path: Path) -> None:
    write_json(tmp_path / "config.json", {"architectures": ["MyForCausalLM"], "model_type": "my",
                                          "auto_map": {"AutoModelForCausalLM": "modeling_my.MyForCausalLM"}})
    write_weights(tmp_path / "model.safetensors", {"w": (2, 2)})
    refused = is_model_supported(tmp_path)
    assert not refused.supported and refused.needs_trust_remote_code and "trust_remote_code" in refused.reason
    allowed = is_model_supported(tmp_path, trust_remote_code=True)
    assert allowed.supported and allowed.needs_trust_remote_code


def test_unknown_model_type(tmp_path: Path) -> None:
    write_json(tmp_path / "config.json", {"architectures": ["ZorkForCausalLM"], "model_type": "zork"})
    write_weights(tmp_path / "model.safetensors", {"w": (2, 2)})
    report = is_model_supported(tmp_path)
    assert not report.supported and "'zork'" in report.reason


def _tree(tmp_path: Path, tiny_models) -> Path:
    """models/ with a plain model, a diffusers pipeline, a broken folder, a symlink loop and an HF cache entry."""
    root = tmp_path / "models"
    (root / "text").mkdir(parents=True)
    (root / "text" / "llama").symlink_to(tiny_models["llama"][0])
    make_diffusers(root / "image" / "sd")
    (root / "broken").mkdir()
    (root / "broken" / "config.json").write_text("{ nope")
    (root / "text" / "loop").symlink_to(root)
    snap = root / "hub" / "models--acme--tiny-bert" / "snapshots" / "abc123"
    snap.parent.mkdir(parents=True)
    snap.symlink_to(tiny_models["bert"][0])
    (root / "hub" / "models--acme--tiny-bert" / "blobs").mkdir()
    return root


def test_scan_finds_models_and_keeps_going(tiny_models, tmp_path: Path) -> None:
    root = _tree(tmp_path, tiny_models)
    result = scan_models([root])
    by_name = {m.name: m for m in result.models}
    # nested models are named by their path under the root; the HF cache by its repository id
    assert set(by_name) == {"text/llama", "image/sd", "acme/tiny-bert"}
    assert by_name["acme/tiny-bert"].category == "encoder"
    assert by_name["image/sd"].category == "diffusers"  # its unet/ etc. are components, not separate models
    assert [(p, "line 1" in why) for p, why in result.errors] == [(root / "broken" / "config.json", True)]


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="nexus")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_inspect_json(tiny_models, capsys) -> None:
    folder, params = tiny_models["llama"]
    assert _run(["models", "inspect", str(folder), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["category"] == "causal_lm" and data["architecture"] == "LlamaForCausalLM"
    assert data["model_type"] == "llama" and data["parameters"] == params and data["size_bytes"] > 0
    assert data["supported"] is True and data["reason"]


def test_cli_inspect_text(tiny_models, capsys) -> None:
    assert _run(["models", "inspect", str(tiny_models["t5"][0])]) == 0
    out = capsys.readouterr().out
    assert "seq2seq" in out and "T5ForConditionalGeneration" in out


def test_cli_inspect_bad_input_raises_nexus_error(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("[")
    with pytest.raises(NexusError) as exc:
        _run(["models", "inspect", str(tmp_path)])
    assert isinstance(exc.value, ModelFolderError) and exc.value.path == tmp_path / "config.json"


def test_cli_scan_json_and_exit_code(tiny_models, tmp_path: Path, capsys) -> None:
    root = _tree(tmp_path, tiny_models)
    assert _run(["models", "scan", str(root), "--json"]) == 1
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert len(data["models"]) == 3 and {"supported", "reason", "category"} <= set(data["models"][0])
    assert data["errors"][0]["path"] == str(root / "broken" / "config.json")
    assert "broken/config.json" in captured.err


def test_cli_scan_table_clean(tiny_models, capsys) -> None:
    assert _run(["models", "scan", str(tiny_models["vit"][0].parent)]) == 0
    out = capsys.readouterr().out
    assert "vision_encoder" in out and "llama-sharded" in out


def test_cli_scan_missing_dir(tmp_path: Path) -> None:
    with pytest.raises(ModelFolderError, match="does not exist"):
        _run(["models", "scan", str(tmp_path / "nope")])


def test_cli_load_reports_the_load_and_exits_1_with_the_error(tiny_models, tmp_path: Path, capsys,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("torch")
    monkeypatch.setenv("NEXUS_HOME", str(tmp_path / "home"))
    assert _run(["models", "load", str(tiny_models["llama"][0]), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is True and data["method"] == "streamed" and data["strategy"] == "LlamaForCausalLM"
    assert data["memory_bytes"] > 0 and data["device"] == "cpu"

    assert _run(["models", "load", str(tiny_models["t5"][0]), "--dtype", "bf16"]) == 0
    out = capsys.readouterr().out
    assert "bfloat16" in out and "T5ForConditionalGeneration" in out

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text('{"model_type": "llama"')
    assert _run(["models", "load", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "config.json" in err and "what to do" in err
