"""Feed-forward style networks judged as Johnson et al. (ECCV 2016) judged theirs: against Gatys'
optimisation started from noise, after N = 20, 50 and 100 L-BFGS iterations, on the very objective
`visiontk stylize` optimises, at several sizes, on held-out photos.

    VISIONTK_MODELS=../shared/weights python benchmarks/style_judge.py --model starry-night \
        [--sizes 256 512 1024] [--photos ../shared/data/content/*] [--json report.json]

For each photo resized to each size (long side): `stylize --scales 1 --init noise --iterations 100` with
its default weights (VGG16: the weights we have), the result kept after 20, 50 and 100 iterations, and the
network's painting of the same photo. Each is scored with the terms of `stylize`'s objective (the
painting resized to the result's long side; float32): the style term relative to the photo's own (1.0 =
no style at all) and the content term. Targets (issue 22), means over the photos at each size: the
network's style <= 3x Gatys-50's, its content <= 1.5x Gatys-50's.

The measure is `visiontk.style.evaluate` (the library verb); this script picks the photos and prints the
table. Gatys' results are cached under --cache (keyed by painting, photo and size), so judging another
checkpoint of a network only paints with the network.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VISIONTK_SHARED", ROOT.parent / "shared"))
os.environ.setdefault("VISIONTK_MODELS", str(SHARED / "weights"))
sys.path.insert(0, str(ROOT))

from visiontk.style.evaluate import CONTENT_TARGET, STYLE_TARGET, evaluate  # noqa: E402

# Photos no shipped network was trained on or looked at while training (they train on BSDS500, the face
# photos and Set5): five kinds of content (a portrait, an animal, an object on a table, a machine in the
# sky, a townscape).
JUDGE_PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "tubingen.jpg")
STYLE_OF_MODEL = {"starry-night": "starry_night.jpg", "the-scream": "the_scream.jpg"}


def print_table(report: dict) -> None:
    print("size  method      style (of the photo's own)  content")
    for key, m in report["means"].items():
        size, method = key.split("/")
        print(f"{size:>4}  {method:10s}  {m['style']:26.4f}  {m['content']:8.2f}")
    for size, v in report["verdicts"].items():
        print(f"{size} px: network style {v['style_ratio']:.2f}x Gatys-50's (target <= {STYLE_TARGET}), content "
              f"{v['content_ratio']:.2f}x (target <= {CONTENT_TARGET}): {'MET' if v['met'] else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="starry-night", help="A shipped style or a .weights.h5 file.")
    parser.add_argument("--style", type=Path, help="The painting (default: the shipped style's).")
    parser.add_argument("--photos", nargs="+", type=Path,
                        default=[SHARED / "data/content" / name for name in JUDGE_PHOTOS])
    parser.add_argument("--sizes", nargs="+", type=int, default=[256, 512, 1024])
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "style_judge_cache")
    parser.add_argument("--out", type=Path, help="Write every judged picture here.")
    parser.add_argument("--json", type=Path, help="Write the report here.")
    args = parser.parse_args()
    painting = args.style or SHARED / "data/style" / STYLE_OF_MODEL.get(str(args.model), "starry_night.jpg")
    print(f"model {args.model}, painting {painting.name}, {len(args.photos)} photos, sizes {args.sizes}; "
          f"load average {os.getloadavg()[0]:.2f}")
    report = evaluate(str(args.model), painting, args.photos, args.sizes, cache=args.cache, pictures=args.out)
    print_table(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
