"""Feed-forward style networks against Gatys' optimisation, in one run: seconds per 512-px image and the
quality of the result on photos that were not in the network's training data.

    VISIONTK_MODELS=../shared/weights python benchmarks/fast_style_bench.py [--model starry-night]
        [--style ../shared/data/style/starry_night.jpg] [--photos chelsea.png tubingen.jpg ...]

Speed: `visiontk stylize` as a user runs it (a fresh process; start-up included), on one photo and on
all of them in one call (the difference divided by the extra photos is the per-image time with start-up
excluded), for `--model` and for Gatys (`--size 512` defaults, VGG16: the weights we have).
Quality: `visiontk.style.evaluate`, Johnson et al.'s protocol (benchmarks/style_judge.py prints the same
table alone): on the five held-out photos at 256, 512 and 1024 px, the network against `stylize --scales 1
--init noise --iterations N` for N = 20, 50, 100, on the terms of stylize's own objective (VGG16): the
style term relative to the photo's own (1.0 = no style at all) and the content term.
Targets (issues 12 and 22): feed-forward >= 100x faster per image and < 1 s per 512-px image after
start-up; at each size, its style distance <= 3x Gatys-50's and its content distance <= 1.5x.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from style_judge import JUDGE_PHOTOS, SHARED, print_table  # noqa: E402  (sets VISIONTK_MODELS)

from visiontk.imageio import read_image, resize_long_side  # noqa: E402
from visiontk.style.evaluate import CONTENT_TARGET, STYLE_TARGET, evaluate  # noqa: E402

STYLE_OF_MODEL = {"starry-night": "starry_night.jpg", "the-scream": "the_scream.jpg"}
PAINTER = {"starry_night.jpg": "van Gogh, 1889", "the_scream.jpg": "Edvard Munch, 1893",
           "shipwreck.jpg": "J. M. W. Turner, 1805"}
CROP = 384                     # each panel: a centre crop at the result's own resolution (strokes unscaled)


def stylize_cli(photos: list[Path], out: Path, extra: list[str]) -> tuple[float, list[dict]]:
    """Run `visiontk stylize` in a fresh process on `photos`; returns its wall time and JSON records."""
    if out.exists():
        shutil.rmtree(out)
    command = [sys.executable, "-m", "visiontk", "-q", "stylize", *map(str, photos), "--output-dir", str(out),
               "--size", "512", "--json", *extra]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"visiontk stylize failed ({done.returncode}): {done.stderr.strip()}")
    return seconds, [json.loads(line) for line in done.stdout.splitlines()]


def camera_folder(photos: list[Path], folder: Path, count: int) -> Path:
    """`count` 4:3 photos of one size (1024x768, as from one camera) cut from `photos` at varied places,
    JPEG-compressed: what a user's holiday folder looks like to the network."""
    from visiontk.imageio import write_image

    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        rgb = read_image(photos[i % len(photos)])
        height, width = rgb.shape[:2]
        crop_w = min(width, height * 4 // 3)
        crop_h = crop_w * 3 // 4
        top, left = rng.integers(0, height - crop_h + 1), rng.integers(0, width - crop_w + 1)
        crop = Image.fromarray(rgb[top:top + crop_h, left:left + crop_w])
        picture = np.asarray(crop.resize((1024, 768), Image.LANCZOS))
        write_image(folder / f"photo{i:02d}.jpg", picture, quality=90)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="starry-night", help="A shipped style or a .weights.h5 file.")
    parser.add_argument("--style", type=Path, help="The painting the model was trained on.")
    parser.add_argument("--photos", nargs="+", type=Path,
                        default=[SHARED / "data/content" / name for name in JUDGE_PHOTOS])
    parser.add_argument("--sizes", nargs="+", type=int, default=[256, 512, 1024], help="Judged sizes (long side).")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "style_judge_cache",
                        help="Gatys' judged pictures, kept between runs.")
    parser.add_argument("--gatys-photos", type=int, default=1,
                        help="How many of the photos Gatys stylizes (512 px, defaults) for the speed ratio.")
    parser.add_argument("--camera-photos", type=int, default=8,
                        help="Photos in the same-size folder the per-image time is measured on.")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "fast_style_bench")
    parser.add_argument("--run", type=Path, help="The training run of --model: with --card, describe it.")
    parser.add_argument("--card", type=Path, help="Write the model card (models/style-NAME.md) here.")
    parser.add_argument("--picture", type=Path, help="Also copy the side-by-side picture here.")
    args = parser.parse_args()
    style = args.style or SHARED / "data/style" / STYLE_OF_MODEL.get(args.model, "starry_night.jpg")
    args.out.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} CPUs, load average {load[0]:.2f} (shared: timings are noisy)")
    model = ["--model", str(args.model)]
    gatys = ["-s", str(style), "--backbone", "vgg16"]

    print("\n== speed: seconds per 512-px image, `visiontk stylize` in a fresh process ==")
    one, _ = stylize_cli(args.photos[:1], args.out / "ff1", model)
    many, records = stylize_cli(args.photos, args.out / "ff", model)
    extra = len(args.photos) - 1
    wall_per_extra = (many - one) / extra if extra else float("nan")   # start-up noise can swamp it
    # The held-out photos all differ in size, and the first photo of each size also pays for setting up
    # the convolutions for that shape: their median is the worst case.
    ff_mixed_sizes = float(np.median([r["seconds"] for r in records]))
    # A folder from one camera: photos of one size. Per image after start-up: the median of the times the
    # CLI reports for reading, resizing and painting each photo, the first one (set-up) left out.
    camera = camera_folder(args.photos, args.out / "camera", args.camera_photos)
    _, camera_records = stylize_cli([camera], args.out / "ff_camera", model)
    ff_after_start = ff_forward = float(np.median([r["seconds"] for r in camera_records[1:]]))
    _, float32_records = stylize_cli([camera], args.out / "ff_camera_float32", [*model, "--precision", "float32"])
    ff_float32 = float(np.median([r["seconds"] for r in float32_records[1:]]))
    g_one, g_records = stylize_cli(args.photos[:args.gatys_photos], args.out / "gatys", gatys)
    gatys_per_image = g_one / args.gatys_photos
    gatys_optimising = float(np.mean([r["seconds"] for r in g_records]))
    print(f"feed-forward: {one:.2f} s for 1 photo (start-up included), {many:.2f} s for {len(args.photos)} "
          f"({wall_per_extra:.2f} s of wall time per extra photo); after start-up {ff_mixed_sizes:.2f} s per "
          f"photo of a new size, {ff_after_start:.2f} s per photo in a folder of {args.camera_photos} same-size "
          f"photos (medians, {records[0]['precision']}; float32: {ff_float32:.2f} s)")
    print(f"Gatys: {gatys_per_image:.1f} s per photo (start-up included), {gatys_optimising:.1f} s optimising")
    print(f"ratio: {gatys_per_image / one:.0f}x faster with start-up, "
          f"{gatys_optimising / ff_after_start:.0f}x per image after start-up")

    print("\n== quality: against Gatys from noise (style relative to the photo's own; lower is better) ==")
    judged = evaluate(str(args.model), style, args.photos, args.sizes, cache=args.cache, pictures=args.out / "judge")
    print_table(judged)
    side_by_side(args.photos[0], args.out / "judge", args.out / "side_by_side.jpg", sorted(args.sizes)[-2:])
    speed_met = bool(gatys_optimising / ff_after_start >= 100 and ff_after_start < 1.0)
    print(f"targets: speed {'MET' if speed_met else 'NOT met'}, quality {'MET' if judged['met'] else 'NOT met'}")
    report = {"load_average": load, "feed_forward_seconds_one": one, "feed_forward_seconds_per_extra": wall_per_extra,
              "feed_forward_forward_seconds": ff_forward, "feed_forward_new_size_seconds": ff_mixed_sizes,
              "feed_forward_float32_seconds": ff_float32, "gatys_seconds_per_image": gatys_per_image,
              "gatys_optimising_seconds": gatys_optimising, "quality": judged,
              "speed_target_met": speed_met, "quality_target_met": judged["met"]}
    (args.out / "report.json").write_text(json.dumps(report, indent=2))
    print(f"images and report.json in {args.out}")
    if args.picture:
        shutil.copyfile(args.out / "side_by_side.jpg", args.picture)
    if args.card:
        args.card.write_text(model_card(args, style, report))
        print(f"model card: {args.card}")


def side_by_side(photo_path: Path, pictures: Path, out: Path, sizes: list[int]) -> None:
    """photo | Gatys 50 | network, one row per judged size in `sizes` (the two largest: 512 and 1024 by
    default), each panel a CROP-px centre crop of the picture at that size (so the strokes are shown at
    the scale they were painted)."""
    from visiontk.charts import grid
    from visiontk.imageio import write_image

    def centre(image: np.ndarray) -> np.ndarray:
        height, width = image.shape[:2]
        top, left = max(0, (height - CROP) // 2), max(0, (width - CROP) // 2)
        return np.pad(image[top:top + CROP, left:left + CROP],
                      ((0, max(0, CROP - height)), (0, max(0, CROP - width)), (0, 0)))

    panels = []
    for size in sizes:
        photo = resize_long_side(read_image(photo_path), size)
        panels += [centre(photo)] + [centre(read_image(pictures / f"{size}" / f"{photo_path.stem}_{method}.jpg"))
                                     for method in ("gatys-50", "network")]
    write_image(out, grid(np.stack(panels), columns=3, gap=4), overwrite=True)


def model_card(args, style: Path, report: dict) -> str:
    """The model card of a shipped style: data, command, steps, time, the measured table, the file."""
    import csv
    import hashlib

    from visiontk.style import load_model
    from visiontk.weights import resolve

    from visiontk.training import read_config

    config = read_config(args.run)
    rows = list(csv.DictReader(open(args.run / "metrics.csv")))
    weights = Path(args.model) if Path(args.model).exists() else resolve(f"style-{args.model}")
    data = weights.read_bytes()
    phases, start = [], 1
    for i, row in enumerate(rows):
        last = i == len(rows) - 1
        if last or rows[i + 1]["content_weight"] != row["content_weight"]:
            phases.append(f"content weight {float(row['content_weight']):g} for steps {start}-{row['step']}")
            start = int(row["step"]) + 1
    raised = " (raised on resume to keep more of the photo, see README)" if len(phases) > 1 else ""
    shown_style = str(style).replace(str(SHARED), "../shared")
    crop_max = config.get("crop_max") or config["crop"]
    crop_sizes = f"{config['crop']}" if crop_max == config["crop"] else f"{config['crop']} to {crop_max}"
    jitter = f", colour jitter {config['jitter']:g}" if config.get("jitter") else ""
    painting_size = (f"a long side of {config['style_size']} px" if config.get("style_size")
                     else "each crop's size times --style-scale (as `stylize` ties it to the result)")
    options = " ".join(f"--{k.replace('_', '-')} {config[k]}" for k in ("steps", "crop", "crop_max", "jitter",
                                                                      "init_from") if config.get(k))
    options += f" --batch-size {config.get('batch_size', config.get('batch'))}"
    warm = f", warm start from `{config['init_from']}`" if config.get("init_from") else ""
    judged = report["quality"]
    quality = "\n".join(f"| {key.split('/')[0]} | {key.split('/')[1]} | {m['style']:.4f} | {m['content']:.2f} |"
                        for key, m in judged["means"].items())
    verdicts = "\n".join(f"- {size} px: style {v['style_ratio']:.2f}x Gatys-50's (target <= {STYLE_TARGET}), "
                         f"content {v['content_ratio']:.2f}x (target <= {CONTENT_TARGET}): "
                         f"{'met' if v['met'] else 'NOT met'}" for size, v in judged["verdicts"].items())
    return f"""# Feed-forward style network: {Path(style).stem.replace('_', ' ').title()} (`{weights.name}`)

Johnson et al.'s transformation network (`visiontk/backbones/transformer.py`: instance norm, upsample +
conv, reflection padding; {load_model(weights).count_params():,} weights), trained by `visiontk stylize train`
on this project's 2 CPU cores to paint like `{Path(style).name}` ({PAINTER.get(Path(style).name, "")}, public domain).

## Training
- Data: every photo of {', '.join(f'`{d}`' for d in config['data'])}, random square crops of
  {crop_sizes} px mirrored at random{jitter}, batches of {config.get('batch_size', config.get('batch'))}. The
  content photos of `../shared/data/content` were NOT trained on: they are the held-out photos of the
  evaluation below.
- Objective: Gatys' (VGG16 {', '.join(config['content_layers'])} content, Gram style at
  {', '.join(config['style_layers'])}, TV), style weight {config['style_weight']:g}, TV weight
  {config['tv_weight']:g}, the painting resized to {painting_size}; {'; '.join(phases)}{raised}.
  Adam, learning rate {config['learning_rate']:g}, {config['precision']}, seed {config['seed']}{warm}.
- Command, from the repository root (run it again to resume; on a GPU machine the same command trains
  there): `{config.get('command') or f"visiontk stylize train {shown_style} {' '.join(config['data'])} --out RUN {options}"}`
- These weights: step {rows[-1]['step']}, {float(rows[-1]['seconds']) / 3600:.2f} h of training on 2 CPU cores
  shared with other jobs; the latest checkpoint, config and metrics are in
  `training-runs/{weights.name.removesuffix('.weights.h5')}/` to resume.

## Evaluation
`python benchmarks/fast_style_bench.py --model {args.model}` (`visiontk.style.evaluate`, Johnson et al.'s
protocol): the five held-out photos of `../shared/data/content` at each size, the network against Gatys'
`stylize --scales 1 --init noise --iterations N` (VGG16, stylize's default weights), scored with stylize's
own objective: style term relative to the photo's own (1.0 = no style), content term. Means over the photos:

| size | method | style (of the photo's own) | content |
|---|---|---|---|
{quality}

{verdicts}

Speed (`visiontk stylize` in a fresh process each time): {report['feed_forward_seconds_one']:.2f} s for one
photo with start-up; after start-up {report['feed_forward_forward_seconds']:.2f} s per 512x384 photo of a folder of
same-size photos (reading, resizing, painting, bfloat16; float32: {report['feed_forward_float32_seconds']:.2f} s),
{report['feed_forward_new_size_seconds']:.2f} s for a photo of a size not seen before in the process. Gatys
{report['gatys_optimising_seconds']:.1f} s optimising per photo ({report['gatys_seconds_per_image']:.1f} s with
start-up): {report['gatys_optimising_seconds'] / report['feed_forward_forward_seconds']:.0f}x faster per photo after
start-up. Load average {report['load_average'][0]:.2f} at the start.

![photo | Gatys 50 | this network, at the two largest judged sizes (centre crops)](../docs/images/{args.picture.name if args.picture else "style_fast_side_by_side.jpg"})

## File
- sha256 `{hashlib.sha256(data).hexdigest()}`, {len(data)} bytes.
"""


if __name__ == "__main__":
    main()
