"""Benchmark of `visiontk sr`: Set5 quality of the shipped models, upscaling speed and memory, and the
cost of a training step. Prints figures; asserts nothing.

    python benchmarks/sr_bench.py                  # everything
    python benchmarks/sr_bench.py --only set5      # or: real, upscale, train
    python benchmarks/sr_bench.py --only real --real-model runs/x4-real/best.weights.h5
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SET5 = SHARED / "data" / "sr" / "Set5"
PAPER = {2: 37.99, 3: 34.37, 4: 32.10}   # EDSR-baseline, Lim et al. 2017, Table 3 (Set5)
TARGET = {2: 36.5, 4: 30.8}


def set5_table() -> None:
    from visiontk import weights
    from visiontk.errors import WeightsError
    from visiontk.sr.evaluate import evaluate

    print("## Set5, standard protocol (Y BT.601, scale-pixel border, PIL bicubic LR)\n")
    print("| scale | bicubic PSNR / SSIM | shipped EDSR PSNR / SSIM | target | EDSR-baseline paper |")
    print("|---|---|---|---|---|")
    for scale in (2, 3, 4):
        try:
            weights.resolve(f"edsr-x{scale}")
            result = evaluate(SET5, scale)
            edsr = f"{result['mean']['psnr']:.2f} / {result['mean']['ssim']:.4f}"
        except WeightsError:
            result, edsr = evaluate(SET5, scale, bicubic_only=True), "not shipped"
        mean = result["mean"]
        print(f"| x{scale} | {mean['bicubic_psnr']:.2f} / {mean['bicubic_ssim']:.4f} | {edsr} | "
              f"{TARGET.get(scale, '-')} | {PAPER[scale]} |")
    print()


def real_table(real_model: str = "edsr-x4-real") -> None:
    """Set5 made "real" two fixed ways: edsr-x4-real against edsr-x4 (target: +0.5 dB on both)."""
    from visiontk.sr.evaluate import evaluate

    print(f"## Set5 x4 on \"real\" inputs (LR: bicubic x4, then degraded; target: {real_model} "
          "+0.5 dB over edsr-x4)\n")
    print(f"| LR input | bicubic PSNR / SSIM | edsr-x4 PSNR / SSIM | {real_model} PSNR / SSIM | gain |")
    print("|---|---|---|---|---|")
    names = {"jpeg40": "JPEG q40", "noise5-jpeg75": "noise sigma 5 + JPEG q75", None: "clean (standard)"}
    for degradation, name in names.items():
        base = evaluate(SET5, 4, "edsr-x4", degradation=degradation)["mean"]
        real = evaluate(SET5, 4, real_model, degradation=degradation)["mean"]
        print(f"| {name} | {base['bicubic_psnr']:.2f} / {base['bicubic_ssim']:.4f} | {base['psnr']:.2f} / "
              f"{base['ssim']:.4f} | {real['psnr']:.2f} / {real['ssim']:.4f} | {real['psnr'] - base['psnr']:+.2f} dB |")
    print()


UPSCALE_CHILD = """
import json, sys, time, resource
import numpy as np
from PIL import Image
from visiontk.sr.upscale import Upscaler
scale, side, model = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] or None
rgb = np.asarray(Image.open(sys.argv[4]).convert("RGB").resize((side, side), Image.BICUBIC))
upscaler = Upscaler(scale, model)
upscaler.upscale_rgb(rgb[:64, :64])  # trace the graph once
start = time.perf_counter()
out = upscaler.upscale_rgb(rgb)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "tile": upscaler.tile, "output_mp": out.shape[0] * out.shape[1] / 1e6,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def upscale_speed(scale: int = 4, side: int = 1000, model: str | None = None) -> None:
    """Upscale a 1000x1000 photo in a fresh process, so that its peak RSS is the upscaler's own."""
    photo = SHARED / "data" / "content" / "astronaut.png"
    done = subprocess.run([sys.executable, "-c", UPSCALE_CHILD, str(scale), str(side), model or "", str(photo)],
                          capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"## Upscaling a {side}x{side} photo x{scale} ({model or f'edsr-x{scale}'}, automatic tile "
          f"{result['tile']} px)\n")
    print(f"- {result['seconds']:.1f} s, {result['output_mp'] / result['seconds']:.3f} output MP/s")
    print(f"- peak RSS {result['peak_rss_mb']:.0f} MB (limit 2048 MB)\n")


def train_step_seconds(steps: int = 5) -> None:
    from visiontk.runtime import tensorflow

    tf = tensorflow()
    import keras

    from visiontk.sr import data
    from visiontk.sr.training import TrainConfig, _make_train_step, build_model

    paths = data.find_images([SHARED / "data" / "sr-train" / "bsds500" / "train"])[:16]
    print("## Seconds per training step (EDSR-baseline x2, 16 patches of 48x48 LR)\n")
    for precision in ("float32", "mixed_bfloat16"):
        keras.mixed_precision.set_global_policy(precision)
        config = TrainConfig(hr_dirs=[], scale=2)
        pairs = data.load_pairs(paths, 2, config.patch)
        model = build_model(config)
        optimizer = keras.optimizers.Adam(1e-4)
        step = _make_train_step(tf, tf.distribute.get_strategy(), model, optimizer, config.batch)
        batches = iter(data.patch_dataset(pairs, 2, config.patch, config.batch, 0, 0, steps + 2))
        step(next(batches)), step(next(batches))  # trace and warm up
        start = time.perf_counter()
        for _ in range(steps):
            float(step(next(batches)))
        print(f"- {precision}: {(time.perf_counter() - start) / steps:.2f} s/step")
    keras.mixed_precision.set_global_policy("float32")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["set5", "real", "upscale", "train"])
    parser.add_argument("--real-model", default="edsr-x4-real",
                        help="the real-degradation model to compare with edsr-x4 (name or weights file)")
    parser.add_argument("--model", help="weights for the upscale benchmark (default: shipped edsr-x4)")
    args = parser.parse_args()
    if args.only in (None, "set5"):
        set5_table()
    if args.only in (None, "real"):
        real_table(args.real_model)
    if args.only in (None, "upscale"):
        upscale_speed(model=args.model)
    if args.only in (None, "train"):
        train_step_seconds()
    print(f"(this process: peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)")


if __name__ == "__main__":
    main()
