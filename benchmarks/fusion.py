"""Fusion latency and memory at the seed's dimensions: vision 512, audio 768 and video 1024 wide features projected
into a 4096-wide LLM, each alone and all three fused with 16-head cross-modal attention, at batch 1 and 8 — on the
GPU when there is one, else on the CPU. The baseline measured in the same run is a single Linear layer of the
same shape (the least a projection can cost).

    .venv/bin/python benchmarks/fusion.py [--llm-width 4096] [--tokens 64] [--repeats 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def timed(fn, repeats: int, sync) -> float:  # type: ignore[no-untyped-def]
    fn()
    sync()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        sync()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    import torch

    from nexus_core.multimodal.fusion import FusionConfig, ModalitySpec, NeuralArchitect

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--llm-width", type=int, default=4096)
    parser.add_argument("--tokens", type=int, default=64, help="tokens per attachment after pooling")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    widths = {"vision": 512, "audio": 768, "video": 1024}
    raw_tokens = {"vision": 257, "audio": 1500, "video": 1568}  # CLIP-L/14 patches, Whisper frames, VideoMAE tubelets
    config = FusionConfig(args.llm_width, {m: ModalitySpec(w, args.tokens) for m, w in widths.items()},
                          cross_attention=True, heads=16)
    architect = NeuralArchitect(config).to(device).eval()
    params = sum(p.numel() * p.element_size() for p in architect.parameters())
    print(f"device {device}; LLM width {args.llm_width}; {args.tokens} tokens per attachment; fusion parameters "
          f"{params / 2**20:.0f} MiB (fp32)")
    for batch in (1, 8):
        features = {m: torch.randn(batch, raw_tokens[m], w, device=device) for m, w in widths.items()}
        with torch.no_grad():
            for modality, width in widths.items():
                projector = architect.projectors[modality]
                linear = torch.nn.Linear(width, args.llm_width).to(device)
                pooled = features[modality][:, : args.tokens]
                given = features[modality]
                ours = timed(lambda p=projector, x=given: p(x), args.repeats, sync)
                base = timed(lambda lin=linear, x=pooled: lin(x), args.repeats, sync)
                print(f"batch {batch}: {modality} {width}→{args.llm_width} projection {ours * 1000:.2f} ms "
                      f"(one Linear of that shape {base * 1000:.2f} ms, ×{ours / base:.1f})")
            if device == "cuda":
                torch.cuda.reset_peak_memory_stats()
                before = torch.cuda.memory_allocated()
            fused = timed(lambda f=features: architect.project_and_fuse(f), args.repeats, sync)
            if device == "cuda":
                peak = torch.cuda.max_memory_allocated() - before
                memory = f"{peak / 2**20:.0f} MiB of activations at the peak"
            else:
                out = architect.project_and_fuse(features)
                activations = sum(v.numel() * v.element_size() for v in out.values())
                memory = f"{activations / 2**20:.1f} MiB of fused tokens out"
            print(f"batch {batch}: 3-modality fusion with 16-head cross-modal attention {fused * 1000:.2f} ms; "
                  f"{memory}")


if __name__ == "__main__":
    main()
