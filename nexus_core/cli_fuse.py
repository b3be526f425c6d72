"""``nexus fuse``: train the projectors that let a local LLM read pictures, sound and video (LLaVA stage 1)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser("fuse", help="multimodal fusion: train projectors from encoders into a local LLM")
    fuse = p.add_subparsers(dest="fuse_command", required=True)
    train = fuse.add_parser("train", help="alignment training: only the projectors learn; writes a fusion bundle")
    train.add_argument("--llm", type=Path, required=True, help="the local LLM's folder")
    train.add_argument("--vision", type=Path, help="an image encoder folder (CLIP, SigLIP, DINOv2…)")
    train.add_argument("--audio", type=Path, help="an audio encoder folder (Whisper, Wav2Vec2…)")
    train.add_argument("--video", type=Path, help="a video encoder folder (VideoMAE)")
    train.add_argument("--data", type=Path, required=True,
                       help='JSONL of {"image"|"audio"|"video": path, "caption": text}, or a folder of files with '
                            "same-named .txt captions")
    train.add_argument("--out", type=Path, required=True, help="the bundle folder to write")
    train.add_argument("--epochs", type=int, default=3)
    train.add_argument("--max-steps", type=int)
    train.add_argument("--batch-size", type=int, default=4)
    train.add_argument("--lr", type=float, default=1e-3)
    train.add_argument("--tokens", type=int, default=32, help="tokens per attachment given to the LLM")
    train.add_argument("--cross-attention", action="store_true", help="add a cross-modal attention block")
    train.add_argument("--heads", type=int, default=16, help="its heads (must divide the LLM width)")
    train.add_argument("--device", default="cpu")
    train.add_argument("--json", action="store_true")
    info = fuse.add_parser("info", help="what a bundle was trained for")
    info.add_argument("bundle", type=Path)
    p.set_defaults(func=cmd_fuse)


def cmd_fuse(args: argparse.Namespace) -> int:
    from nexus_core.multimodal import bundle as bundles

    if args.fuse_command == "info":
        found = bundles.read(args.bundle)
        print(json.dumps({"llm": found.llm.to_dict(), "encoders": {k: v.to_dict() for k, v in found.encoders.items()},
                          "config": found.config.to_dict(), "training": found.training}, indent=2))
        return 0
    from nexus_core.multimodal.train import align

    encoders = {m: getattr(args, m) for m in ("vision", "audio", "video") if getattr(args, m) is not None}
    if not encoders:
        print("nexus: give at least one encoder: --vision, --audio or --video", file=sys.stderr)
        return 2

    def progress(step: int, total: int, loss: float) -> None:
        if not args.json:
            print(f"\rstep {step}/{total}  caption loss {loss:.4f}", end="", file=sys.stderr, flush=True)

    result = align(args.llm, encoders, args.data, args.out, epochs=args.epochs, max_steps=args.max_steps,
                   batch_size=args.batch_size, lr=args.lr, tokens=args.tokens, cross_attention=args.cross_attention,
                   heads=args.heads, device=args.device, progress=progress)
    if args.json:
        print(json.dumps({"bundle": str(result.bundle), "steps": result.steps, "first_loss": result.losses[0],
                          "last_loss": result.losses[-1], "seconds": round(result.seconds, 2)}))
    else:
        print(f"\nnexus: {result.steps} steps in {result.seconds:.1f} s, caption loss {result.losses[0]:.4f} → "
              f"{result.losses[-1]:.4f}; bundle: {result.bundle}", file=sys.stderr)
    return 0
