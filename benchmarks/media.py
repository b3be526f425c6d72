"""Media on this CPU: the real-time factor of speech (espeak-ng, and a neural VITS voice of MMS-TTS size with
random weights: the compute is the real one, the sound is not), the time to the first audio chunk when a text
is streamed sentence by sentence (vs waiting for the whole text), and the overhead of a picture made through
Nexus (validation, seed, step previews, PNG with parameters, as a job) vs calling the diffusers pipeline
directly with the same settings (target ratio ≤ 1.05).

    .venv/bin/python benchmarks/media.py [--repeat 5] [--steps 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TEXT = ("Nexus Studio reads long answers aloud one sentence at a time. The first sentence plays while the rest "
        "are still being made. That is why the wait before the voice starts stays short, however long the "
        "answer is. Each sentence is made by the same voice and joined with a short pause. The whole text is "
        "saved too, in the format the file name asks for.")


def build_mms_size_vits(folder: Path) -> Path:
    """VitsConfig's defaults are MMS-TTS's sizes (about 36M parameters); a character vocabulary."""
    import torch
    from transformers import VitsConfig, VitsModel, VitsTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    vocab = {c: i for i, c in enumerate(["<pad>", *" abcdefghijklmnopqrstuvwxyz.,!?'-"])}
    (folder / "vocab.json").write_text(json.dumps(vocab))
    VitsTokenizer(str(folder / "vocab.json"), pad_token="<pad>", unk_token="<pad>", add_blank=True, normalize=True,
                  phonemize=False, language="eng").save_pretrained(folder)
    torch.manual_seed(0)
    VitsModel(VitsConfig(vocab_size=len(vocab))).save_pretrained(folder)
    return folder


def speech(repeat: int, work: Path) -> None:
    from nexus_core.media.speech import SpeechEngine, model_voice

    engine = SpeechEngine()
    voices = [("espeak-ng en-us", engine.resolve("en-us"))]
    vits = model_voice(build_mms_size_vits(work / "vits"))
    assert vits is not None
    voices.append(("VITS, MMS-TTS size (random weights)", vits))
    list(engine.stream("Warm up.", vits))  # load the model outside the timings
    for label, voice in voices:
        rtfs, firsts, wholes = [], [], []
        for _ in range(repeat):
            started = time.perf_counter()
            first = None
            clips = []
            for clip in engine.stream(TEXT, voice):
                first = first if first is not None else time.perf_counter() - started
                clips.append(clip)
            whole = time.perf_counter() - started
            audio = sum(c.seconds for c in clips)
            rtfs.append(whole / audio)
            firsts.append(first or 0.0)
            wholes.append(whole)
        print(f"{label}: real-time factor {statistics.median(rtfs):.3f} (seconds to make 1 s of speech); first "
              f"chunk after {statistics.median(firsts) * 1000:.0f} ms vs {statistics.median(wholes) * 1000:.0f} ms "
              f"for the whole text ({len(clips)} sentences) → streaming starts "
              f"{statistics.median(wholes) / statistics.median(firsts):.1f}× sooner")


def build_small_sd(folder: Path) -> Path:
    """A Stable Diffusion 1.x layout at small sizes: a 64×64 picture takes a fraction of a second per step."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from tests.support.tiny_models import build_tiny_stable_diffusion

    build_tiny_stable_diffusion(folder)  # for its tokenizer
    torch.manual_seed(0)
    unet = UNet2DConditionModel(block_out_channels=(64, 128, 128), layers_per_block=2, sample_size=8,
                                in_channels=4, out_channels=4, cross_attention_dim=64, attention_head_dim=8,
                                down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
                                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"))
    vae = AutoencoderKL(block_out_channels=[32, 64, 64, 64], in_channels=3, out_channels=3, latent_channels=4,
                        down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4)
    text = CLIPTextModel(CLIPTextConfig(bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_size=64,
                                        intermediate_size=128, num_attention_heads=4, num_hidden_layers=2,
                                        vocab_size=64, max_position_embeddings=16))
    tiny = StableDiffusionPipeline.from_pretrained(folder)
    StableDiffusionPipeline(unet=unet, vae=vae, text_encoder=text, tokenizer=tiny.tokenizer,
                            scheduler=DDIMScheduler(steps_offset=1, clip_sample=False), safety_checker=None,
                            feature_extractor=None, requires_safety_checker=False).save_pretrained(folder)
    return folder


def image(repeat: int, steps: int, work: Path) -> None:
    import torch

    from nexus_core.jobs import JobRunner
    from nexus_core.media.image import ImageRequest
    from nexus_core.media.service import MediaService
    from nexus_core.store import Store

    folder = build_small_sd(work / "sd")
    store = Store(work / "nexus.db").open()
    runner = JobRunner(store)
    media = MediaService(work / "media", work, runner, store)
    pipe = media.pipelines.get(folder)  # one loaded pipeline serves both ways
    size = 64

    def direct(seed: int) -> float:
        started = time.perf_counter()
        with torch.inference_mode():
            picture = pipe("a red fox", num_inference_steps=steps, guidance_scale=7.5, width=size,
                           height=size, generator=torch.Generator("cpu").manual_seed(seed)).images[0]
        picture.save(work / "direct.png")
        return time.perf_counter() - started

    def nexus(seed: int) -> float:
        started = time.perf_counter()
        handle = media.draw(ImageRequest("a red fox", str(folder), steps=steps, guidance=7.5, width=size,
                                         height=size, seed=seed))
        handle.result(timeout=600)
        return time.perf_counter() - started

    direct(0), nexus(0)  # warm up both paths
    times: dict[str, list[float]] = {"direct": [], "nexus": []}
    for i in range(repeat):  # interleaved, so drifts of this shared machine hit both alike
        times["direct"].append(direct(i))
        times["nexus"].append(nexus(i))
    d, n = statistics.median(times["direct"]), statistics.median(times["nexus"])
    print(f"image {size}×{size}, {steps} steps (Stable Diffusion layout, small sizes): diffusers directly "
          f"{d * 1000:.0f} ms, through Nexus as a job with previews and a PNG with parameters {n * 1000:.0f} ms "
          f"→ ratio {n / d:.3f} (target ≤ 1.05)")
    runner.shutdown()
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        speech(args.repeat, work)
        image(args.repeat, args.steps, work)


if __name__ == "__main__":
    main()
