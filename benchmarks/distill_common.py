"""Shared set-up for the distillation benchmarks: real local text (this Python's standard library source), a
byte-level BPE tokenizer trained on it, chat records made from its documented functions, and Llama models
built from configs (nothing is downloaded)."""

from __future__ import annotations

import ast
import json
import sysconfig
from pathlib import Path
from typing import Any

CHAT_TEMPLATE = ("{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
                 "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
SPECIALS = ["<s>", "</s>", "<pad>", "<|im_start|>", "<|im_end|>"]


def stdlib_files() -> list[Path]:
    """The standard library's own modules (no tests, no site-packages, no idle/tkinter demos), sorted."""
    root = Path(sysconfig.get_paths()["stdlib"])
    skip = {"site-packages", "test", "tests", "idlelib", "turtledemo", "lib2to3", "ensurepip", "__pycache__"}
    return sorted(p for p in root.rglob("*.py") if not skip & set(p.relative_to(root).parts))


def split_files(files: list[Path], every: int = 10) -> tuple[list[Path], list[Path]]:
    """(training files, held-out files): every ``every``-th file is held out, so no file is in both."""
    return [f for i, f in enumerate(files) if i % every], [f for i, f in enumerate(files) if not i % every]


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


def build_tokenizer(folder: Path, texts: list[str], vocab_size: int = 8192) -> Any:
    """A byte-level BPE trained on ``texts``, saved as a transformers tokenizer (with a ChatML template)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(texts, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                                   model_max_length=4096)
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(folder)
    return fast


def build_llama(folder: Path, tokenizer: Any, *, hidden: int, layers: int, heads: int, seed: int = 0) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(hidden_size=hidden, intermediate_size=hidden * 8 // 3 // 16 * 16, num_hidden_layers=layers,
                         num_attention_heads=heads, num_key_value_heads=heads, vocab_size=len(tokenizer),
                         max_position_embeddings=1024, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                         tie_word_embeddings=False)
    torch.manual_seed(seed)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def function_records(files: list[Path], limit: int) -> list[dict[str, Any]]:
    """Chat records from documented functions: the user asks for the function by signature and docstring, the
    assistant answers with its source. Deterministic (files and functions in order)."""
    records: list[dict[str, Any]] = []
    for path in files:
        source = read(path)
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        lines = source.splitlines()
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) or node.end_lineno is None:
                continue
            doc = ast.get_docstring(node)
            body = "\n".join(lines[node.lineno - 1:node.end_lineno])  # get_source_segment re-splits the file
            if not doc or not body or len(body) > 3000:
                continue
            prompt = f"Write `{node.name}({ast.unparse(node.args)})` from {path.stem}: {doc.splitlines()[0]}"
            records.append({"messages": [{"role": "user", "content": prompt},
                                         {"role": "assistant", "content": body}]})
            if len(records) >= limit:
                return records
    return records


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path
