"""Feed-forward style networks against Gatys' optimisation, in one run: seconds per 512-px image and the
quality of the result on photos that were not in the network's training data.

    VISIONTK_MODELS=../shared/weights python benchmarks/fast_style_bench.py [--model starry-night]
        [--style ../shared/data/style/starry_night.jpg] [--photos chelsea.png tubingen.jpg ...]

Speed: `visiontk stylize` as a user runs it (a fresh process; start-up included), on one photo and on
all of them in one call (the difference divided by the extra photos is the per-image time with start-up
excluded), for `--model` and for Gatys (`--size 512` defaults, VGG16: the weights we have).
Quality: the judge of benchmarks/stylize_bench.py (Gram-matrix style distance to the painting, feature
content distance to the photo, VGG16, lower is better). The style distance is also given relative to the
photo's own (the photo itself scored as a result), so that 1.0 means "no style at all".
Targets (issue 12): feed-forward >= 100x faster per image and < 1 s per 512-px image after start-up;
its relative style distance <= 3x Gatys', its content distance <= 1.5x Gatys'.
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
from stylize_bench import SHARED, Judge  # noqa: E402  (sets VISIONTK_MODELS)

from visiontk.imageio import read_image, resize_long_side  # noqa: E402

STYLE_OF_MODEL = {"starry-night": "starry_night.jpg", "the-scream": "the_scream.jpg"}
PAINTER = {"starry_night.jpg": "van Gogh, 1889", "the_scream.jpg": "Edvard Munch, 1893",
           "shipwreck.jpg": "J. M. W. Turner, 1805"}
# The photos the shipped networks were NOT trained on (they were trained on BSDS500 only).
HELD_OUT = ("chelsea.png", "tubingen.jpg", "astronaut.png")


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
                        default=[SHARED / "data/content" / name for name in HELD_OUT])
    parser.add_argument("--gatys-photos", type=int, default=1,
                        help="How many of the photos Gatys stylizes for the quality table (about 2 min each).")
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

    print("\n== quality on held-out photos (judge of stylize_bench.py, lower is better) ==")
    painting = read_image(style)
    rows = []
    for photo_path in args.photos[:args.gatys_photos]:
        photo = resize_long_side(read_image(photo_path), 512)
        judge = Judge(photo, painting)
        own = judge(photo)
        for name, folder in (("Gatys", "gatys"), ("feed-forward", "ff")):
            result = read_image(next((args.out / folder).glob(f"{photo_path.stem}_stylized.*")))
            scores = judge(result)
            rows.append({"photo": photo_path.name, "method": name, **scores,
                         "relative_style": scores["style_distance"] / own["style_distance"]})
            print(f"{photo_path.name:14s} {name:13s} style {scores['style_distance']:.4f} "
                  f"({rows[-1]['relative_style']:.3f} of the photo's own {own['style_distance']:.4f}), "
                  f"content {scores['content_distance']:.4f}")
        if photo_path == args.photos[0]:
            from visiontk.charts import grid
            from visiontk.imageio import write_image

            panels = [photo] + [read_image(next((args.out / f).glob(f"{photo_path.stem}_stylized.*")))
                                for f in ("gatys", "ff")]
            write_image(args.out / "side_by_side.jpg", grid(np.stack(panels), columns=3, gap=4), overwrite=True)
    g = {k: np.mean([r[k] for r in rows if r["method"] == "Gatys"]) for k in ("relative_style", "content_distance")}
    f = {k: np.mean([r[k] for r in rows if r["method"] == "feed-forward"])
         for k in ("relative_style", "content_distance")}
    speed_met = bool(gatys_optimising / ff_after_start >= 100 and ff_after_start < 1.0)
    quality_met = bool(f["relative_style"] <= 3 * g["relative_style"]
                       and f["content_distance"] <= 1.5 * g["content_distance"])
    print(f"\nstyle: feed-forward {f['relative_style'] / g['relative_style']:.2f}x Gatys' (target <= 3); content: "
          f"{f['content_distance'] / g['content_distance']:.2f}x Gatys' (target <= 1.5)")
    print(f"targets: speed {'MET' if speed_met else 'NOT met'}, quality {'MET' if quality_met else 'NOT met'}")
    report = {"load_average": load, "feed_forward_seconds_one": one, "feed_forward_seconds_per_extra": wall_per_extra,
              "feed_forward_forward_seconds": ff_forward, "feed_forward_new_size_seconds": ff_mixed_sizes,
              "feed_forward_float32_seconds": ff_float32, "gatys_seconds_per_image": gatys_per_image,
              "gatys_optimising_seconds": gatys_optimising, "quality": rows,
              "speed_target_met": speed_met, "quality_target_met": quality_met,
              "style_ratio": f["relative_style"] / g["relative_style"],
              "content_ratio": f["content_distance"] / g["content_distance"]}
    (args.out / "report.json").write_text(json.dumps(report, indent=2))
    print(f"images and report.json in {args.out}")
    if args.picture:
        shutil.copyfile(args.out / "side_by_side.jpg", args.picture)
    if args.card:
        args.card.write_text(model_card(args, style, report))
        print(f"model card: {args.card}")


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
    quality = "\n".join(f"| {r['photo']} | {r['method']} | {r['style_distance']:.4f} | {r['relative_style']:.3f} | "
                        f"{r['content_distance']:.4f} |" for r in report["quality"])
    options = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in config.items()
                       if k in ("steps", "batch", "crop", "style_size", "style_weight", "tv_weight", "precision"))
    return f"""# Feed-forward style network: {Path(style).stem.replace('_', ' ').title()} (`{weights.name}`)

Johnson et al.'s transformation network (`visiontk/backbones/transformer.py`: instance norm, upsample +
conv, reflection padding; {load_model(weights).count_params():,} weights), trained by `visiontk stylize train`
on this project's 2 CPU cores to paint like `{Path(style).name}` ({PAINTER.get(Path(style).name, "")}, public domain).

## Training
- Data: the 400 BSDS500 train+test photos (`../shared/data/sr-train/bsds500`, 481x321), random
  {config['crop']}-px crops mirrored at random, batches of {config['batch']}. The content photos of
  `../shared/data/content` were NOT trained on: they are the held-out photos of the sample sheets and
  of the evaluation below.
- Objective: Gatys' (VGG16 {', '.join(config['content_layers'])} content, Gram style at
  {', '.join(config['style_layers'])}, TV), style weight {config['style_weight']:g}, TV weight
  {config['tv_weight']:g}, the painting resized to a long side of {config['style_size']} px; {'; '.join(phases)}{raised}.
  Adam, learning rate {config['learning_rate']:g},
  {config['precision']}, seed {config['seed']}.
- Command (API form in the run: `visiontk/style/training.train`): `visiontk stylize train
  {shown_style} ../shared/data/sr-train/bsds500 --out RUN {options} --samples ...`
- These weights: step {rows[-1]['step']}, {float(rows[-1]['seconds']) / 3600:.2f} h of training on 2 CPU cores
  shared with other jobs; the latest checkpoint, config and metrics are in
  `training-runs/{weights.name.removesuffix('.weights.h5')}/` to resume.

## Evaluation
`python benchmarks/fast_style_bench.py --model {args.model}` (judge of `benchmarks/stylize_bench.py`: style
distance = mean over VGG16 block1..5_conv1 of ||G-G_painting||²/||G_painting||², relative = over the
photo's own; content distance = mean over block4_conv2, block5_conv2 of ||F-F_photo||²/||F_photo||²;
512-px results; Gatys = `visiontk stylize --size 512 --backbone vgg16` defaults).

| photo | method | style distance | relative to the photo's | content distance |
|---|---|---|---|---|
{quality}

Mean over these photos: style distance relative to the photo's {report['style_ratio']:.2f}x Gatys' (target <= 3x),
content distance {report['content_ratio']:.2f}x Gatys' (target <= 1.5x).

Speed (`visiontk stylize` in a fresh process each time): {report['feed_forward_seconds_one']:.2f} s for one
photo with start-up; after start-up {report['feed_forward_forward_seconds']:.2f} s per 512x384 photo of a folder of
same-size photos (reading, resizing, painting, bfloat16; float32: {report['feed_forward_float32_seconds']:.2f} s),
{report['feed_forward_new_size_seconds']:.2f} s for a photo of a size not seen before in the process. Gatys
{report['gatys_optimising_seconds']:.1f} s optimising per photo ({report['gatys_seconds_per_image']:.1f} s with
start-up): {report['gatys_optimising_seconds'] / report['feed_forward_forward_seconds']:.0f}x faster per photo after
start-up. Load average {report['load_average'][0]:.2f} at the start.

![photo | Gatys | this network](../docs/images/{args.picture.name if args.picture else "style_fast_side_by_side.jpg"})

## File
- sha256 `{hashlib.sha256(data).hexdigest()}`, {len(data)} bytes.
"""


if __name__ == "__main__":
    main()
