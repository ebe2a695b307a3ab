"""Benchmark of temporal consistency for stylized video (visiontk.style.temporal): the mean temporal
warping error with consistency off and on, and what it costs in time. Prints a Markdown table; asserts
nothing.

    python benchmarks/video_bench.py                         # a feed-forward style if one is installed,
                                                             # else the flickering stand-in
    python benchmarks/video_bench.py --model starry-night    # a shipped style, or a .weights.h5 file
    python benchmarks/video_bench.py --stylizer flicker --stylizer random-network
    python benchmarks/video_bench.py --stylizer mypackage.mymodule:make_stylizer   # a factory returning
                                                             # a callable: RGB uint8 frame -> stylized frame
    python benchmarks/video_bench.py --strip docs/images/video_flicker_strip.png

The clip: a slow pan (20% of the width) and zoom (1.2x) over a shared photo, made in memory
(visiontk.style.temporal.pan_zoom_frames). The error: mean over t of the mean squared difference (RGB
in [0, 1]) between stylized frame t and stylized frame t-1 warped by the *input's* flow, over the
pixels where that flow passes the forward-backward check; the same flows judge both runs. Drift: the
mean squared difference between the consistent frames and the per-frame ones; detail kept: the mean
absolute Laplacian of the consistent frames over that of the per-frame ones. Times are
per frame, for stylizing alone (off) and with flow and blending (on). The machine is shared: run
`uptime` beside it and report the load.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VISIONTK_SHARED", ROOT.parent / "shared"))
os.environ.setdefault("VISIONTK_MODELS", str(SHARED / "weights"))
sys.path.insert(0, str(ROOT))

from visiontk.style import temporal  # noqa: E402

Stylizer = Callable[[np.ndarray], np.ndarray]


def flicker_stylizer(seed: int = 0) -> Stylizer:
    """The stand-in: coarse colours plus fresh noise and a colour cast per frame (maximal flicker)."""
    rng = np.random.default_rng(seed)

    def stylize(frame: np.ndarray) -> np.ndarray:
        base = np.round(frame.astype(np.float32) / 32) * 32
        noisy = base + rng.normal(0, 12, frame.shape) + rng.normal(0, 8, 3)
        return np.clip(noisy, 0, 255).astype(np.uint8)

    return stylize


def random_network() -> Stylizer:
    """An untrained transformation network (Johnson et al.'s shape, random weights): a feed-forward
    net's cost per frame; its flicker is not a trained style's."""
    from visiontk import runtime
    from visiontk.backbones.transformer import PAD_MULTIPLE, StyleTransformer

    tf = runtime.tensorflow()
    runtime.seed_everything(0)
    network = StyleTransformer()
    run = tf.function(lambda x: network(x, training=False), reduce_retracing=True)

    def stylize(frame: np.ndarray) -> np.ndarray:
        height, width = frame.shape[:2]
        padded = np.pad(frame, ((0, -height % PAD_MULTIPLE), (0, -width % PAD_MULTIPLE), (0, 0)), mode="edge")
        out = run(padded[None].astype(np.float32)).numpy()[0, :height, :width]
        return np.clip(np.round(out), 0, 255).astype(np.uint8)

    return stylize


def feed_forward(model: str) -> Stylizer:
    from visiontk.style import FastStylizer

    return FastStylizer(model).paint


def make_stylizer(spec: str) -> Stylizer:
    if spec == "flicker":
        return flicker_stylizer()
    if spec == "random-network":
        return random_network()
    if ":" in spec:
        module, name = spec.split(":", 1)
        return getattr(importlib.import_module(module), name)()
    return feed_forward(spec)


def default_stylizers() -> list[str]:
    """A shipped feed-forward style when one is installed, else the stand-in."""
    from visiontk.errors import WeightsError
    from visiontk.style.model import STYLE_MODELS

    for name in STYLE_MODELS:
        try:
            feed_forward(name)
            return [name]
        except WeightsError:
            continue
    return ["flicker"]


def measure(name: str, stylize: Stylizer, frames: list[np.ndarray], motions, strength: float,
            method: str) -> dict:
    stylize(frames[0])  # warm up (graph tracing) outside the timings
    started = time.perf_counter()
    off = [stylize(frame) for frame in frames]
    seconds_off = time.perf_counter() - started
    consistent = temporal.TemporalConsistency(stylize, strength=strength, method=method)
    started = time.perf_counter()
    on = consistent.frames(frames)
    seconds_on = time.perf_counter() - started
    error_off = temporal.warping_error(frames, off, motions=motions)
    error_on = temporal.warping_error(frames, on, motions=motions)
    # How far consistency moves the frames from their own stylization (the price of steadiness).
    drift = float(np.mean([np.mean(((a.astype(np.float32) - b) / 255) ** 2) for a, b in zip(on, off)]))
    return {"stylizer": name, "error_off": error_off, "error_on": error_on, "drift": drift,
            "detail": detail(on) / detail(off),
            "seconds_off": seconds_off / len(frames), "seconds_on": seconds_on / len(frames),
            "flow_seconds": consistent.flow_seconds / len(frames), "off": off, "on": on}


def detail(frames: list[np.ndarray]) -> float:
    """Mean absolute Laplacian of the luminance: fine texture, which blending can average away."""
    return float(np.mean([np.abs(cv2.Laplacian(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY), cv2.CV_32F)).mean()
                          for f in frames]))


def print_table(rows: list[dict], clip: str, strength: float, method: str) -> None:
    print(f"## Temporal warping error, {clip}; flow {method}, strength {strength}\n")
    print("| stylizer | error off | error on | change | drift | detail kept | s/frame off "
          "| s/frame on (flow) | time ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        change = (row["error_on"] - row["error_off"]) / row["error_off"] if row["error_off"] else 0.0
        print(f"| {row['stylizer']} | {row['error_off']:.5f} | {row['error_on']:.5f} | {change:+.0%} | "
              f"{row['drift']:.5f} | {row['detail']:.0%} | "
              f"{row['seconds_off']:.3f} | {row['seconds_on']:.3f} ({row['flow_seconds']:.3f}) | "
              f"{row['seconds_on'] / row['seconds_off']:.2f}x |")
    print()


def save_strip(path: Path, row: dict, start: int) -> None:
    """Frames t, t+1, t+2 with consistency off (top row) and on (bottom row)."""
    from visiontk.imageio import write_image

    top = np.concatenate(row["off"][start:start + 3], axis=1)
    bottom = np.concatenate(row["on"][start:start + 3], axis=1)
    gap = np.full((4, top.shape[1], 3), 255, np.uint8)
    write_image(path, np.concatenate([top, gap, bottom], axis=0), overwrite=True)
    print(f"strip (off above, on below; frames {start}-{start + 2}): {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stylizer", action="append", default=None,
                        help="flicker, random-network, a style name or .weights.h5, or module:factory "
                             "(repeatable) [default: a shipped style, else flicker]")
    parser.add_argument("--model", help="Shorthand for --stylizer with a feed-forward style.")
    parser.add_argument("--photo", default=str(SHARED / "data" / "content" / "tubingen.jpg"))
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--size", type=int, nargs=2, default=(256, 256), metavar=("WIDTH", "HEIGHT"))
    parser.add_argument("--strength", type=float, default=temporal.DEFAULT_STRENGTH)
    parser.add_argument("--method", choices=temporal.FLOW_METHODS, default="dis",
                        help="The flow that consistency follows.")
    parser.add_argument("--judge", choices=temporal.FLOW_METHODS, default=None,
                        help="The flow the error is measured with [default: --method]; another one checks "
                             "that the gain is not an artefact of judging with the flow that was followed.")
    parser.add_argument("--strip", type=Path, help="Save frames t..t+2, off and on, of the first stylizer.")
    args = parser.parse_args()

    from PIL import Image

    specs = (args.stylizer or []) + ([args.model] if args.model else [])
    specs = specs or default_stylizers()
    photo = np.asarray(Image.open(args.photo).convert("RGB"))
    frames = temporal.pan_zoom_frames(photo, args.frames, tuple(args.size))
    judge = args.judge or args.method
    motions = temporal.clip_motions(frames, judge)
    trusted = np.mean([m.valid.mean() for m in motions])
    clip = (f"{args.frames} frames {args.size[0]}x{args.size[1]} panning and zooming over "
            f"{Path(args.photo).name} (judged with {judge} flow, trusted on {trusted:.0%} of pixels)")
    rows = [measure(spec, make_stylizer(spec), frames, motions, args.strength, args.method) for spec in specs]
    print_table(rows, clip, args.strength, args.method)
    if args.strip:
        save_strip(args.strip, rows[0], args.frames // 2)


if __name__ == "__main__":
    main()
