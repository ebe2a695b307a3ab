"""Benchmark of `visiontk gan`: judge ceiling/floor, the shipped generator's IS and FID, training speed.

    python benchmarks/gan_bench.py                      # everything (about 5 minutes on 2 CPU cores)
    python benchmarks/gan_bench.py --only scores        # or: speed
    python benchmarks/gan_bench.py --run RUN_DIR        # also report that run's length and speed

Refreshing the shipped model from a newer checkpoint of a training run (a maintainer's tool):

    python benchmarks/gan_bench.py --refresh RUN_DIR

exports the run's latest generator to models/dcgan-fashion-mnist.weights.h5, updates its sha256 in
visiontk/gan/catalog.py, scores it, rewrites models/dcgan-fashion-mnist.md and the README pictures
docs/images/gan_fashion_mnist_samples.png and docs/images/gan_fashion_mnist_loss_curve.png.
"""
from __future__ import annotations

import argparse
import csv
import json
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
TRAIN = FASHION_MNIST / "train-images-idx3-ubyte.gz"
TEST = FASHION_MNIST / "t10k-images-idx3-ubyte.gz"
SAMPLES = 10_000
SEED = 0


def score_figures(model: str = "dcgan-fashion-mnist") -> dict:
    """IS and FID of the test set (the ceiling and the floor) and of SAMPLES generated images."""
    from visiontk import gan

    test = gan.score(TEST, n=SAMPLES, reference=TRAIN)
    started = time.time()
    generated = gan.score(model=model, n=SAMPLES, reference=TRAIN, seed=SEED)
    generated_seconds = time.time() - started
    return {
        "test_set": {k: test[k] for k in ("n", "inception_score", "inception_score_std", "fid")},
        "generator": {k: generated[k] for k in
                      ("model", "n", "seed", "inception_score", "inception_score_std", "fid")},
        "generator_is_fraction_of_test": round(generated["inception_score"] / test["inception_score"], 3),
        "generate_and_score_seconds": round(generated_seconds, 1),
    }


def speed_figures(steps: int = 60, batch_size: int = 128) -> dict:
    """Images per second of the shipped configuration (28x28x1, width 64, batch 128), tracing excluded."""
    from visiontk import gan

    with tempfile.TemporaryDirectory() as folder:
        config = gan.TrainConfig(epochs=2, batch_size=batch_size, limit=steps * batch_size, seed=SEED,
                                 log_every=steps)
        gan.train([str(TRAIN)], Path(folder) / "run", config)
        first, second = read_metrics(Path(folder) / "run")   # the first epoch includes building the graph
    ips = round(steps * batch_size / (float(second["seconds"]) - float(first["seconds"])), 1)
    return {"steps": steps, "batch_size": batch_size, "images_per_second": ips,
            "epoch_of_60000_seconds": round(60000 / ips, 1)}


def read_metrics(run: Path, last_step: int | None = None) -> list[dict]:
    with open(run / "metrics.csv", newline="") as handle:
        return [r for r in csv.DictReader(handle) if last_step is None or int(r["step"]) <= last_step]


def run_figures(run: Path, last_step: int | None = None) -> dict:
    """A run's length and speed (up to `last_step`), from its metrics.csv: `seconds` is the training time
    so far, so each pair of logged rows gives the speed between them."""
    from visiontk.gan.data import load_images
    from visiontk.gan.training import run_config

    config = run_config(run)
    images = sum(len(load_images(d, config.image_size, config.masks, config.limit)) for d in config.data)
    steps_per_epoch = min(images, config.limit or images) // config.batch_size
    rows = read_metrics(run, last_step)
    steps, seconds = (np.array([float(r[k]) for r in rows]) for k in ("step", "seconds"))
    timed = np.diff(seconds) > 0      # `seconds` is logged to 0.1 s: leave out rows closer than that
    speeds = np.diff(steps)[timed] * config.batch_size / np.diff(seconds)[timed]
    return {"run": str(run), "steps": int(steps[-1]), "epochs": int(steps[-1]) // steps_per_epoch,
            "steps_per_epoch": steps_per_epoch, "total_seconds": round(float(seconds[-1])),
            "epoch_seconds_median": round(float(steps_per_epoch * config.batch_size / np.median(speeds)), 1),
            "images_per_second_median": round(float(np.median(speeds)), 1),
            "images_per_second_best": round(float(speeds.max()), 1)}


# ---- refreshing the shipped model ---------------------------------------------------------------------

MODEL = "dcgan-fashion-mnist"
CATALOG = ROOT / "visiontk" / "gan" / "catalog.py"
DOCS = ROOT / "docs" / "images"


def refresh(run: Path) -> dict:
    from visiontk import gan, training
    from visiontk.gan.model import generator_config_path
    from visiontk.gan.training import draw_curves
    from visiontk.weights.registry import digest

    weights = ROOT / "models" / f"{MODEL}.weights.h5"
    gan.export(run, weights, overwrite=True)
    found = digest(weights)
    exported = {**json.loads(generator_config_path(weights).read_text()), "sha256": found.sha256,
                "size": found.size}
    pattern = re.compile(rf'(KnownFile\("{MODEL}\.weights\.h5",\s*sha256=")[0-9a-f]{{64}}(", size=)\d+')
    catalog = CATALOG.read_text()
    if not pattern.search(catalog):
        sys.exit(f"{CATALOG}: no KnownFile line for {MODEL} to update")
    CATALOG.write_text(pattern.sub(rf'\g<1>{exported["sha256"]}\g<2>{exported["size"]}', catalog))
    # The run may still be training: describe it up to the exported step only.
    training_figures = run_figures(run, last_step=exported["step"])
    exported["epochs"] = training_figures["epochs"]
    config = json.loads((run / "config.json").read_text())
    DOCS.mkdir(parents=True, exist_ok=True)
    # chief=False: read the run's metrics without writing its metrics.csv (the run may be going on).
    metrics = training.Metrics(run, exported["step"], chief=False)
    draw_curves(DOCS / "gan_fashion_mnist_loss_curve.png", metrics)
    figures = score_figures(MODEL)
    gan.generate(MODEL, 64, grid=DOCS / "gan_fashion_mnist_samples.png", seed=SEED, scale=2, overwrite=True)
    gan.interpolate(MODEL, 1, 2, steps=8, output=DOCS / "gan_fashion_mnist_interpolation.png", overwrite=True)
    (ROOT / "models" / f"{MODEL}.md").write_text(model_card(exported, figures, training_figures, config))
    return {"exported": exported, "scores": figures, "training": training_figures}


def model_card(exported: dict, figures: dict, training: dict, config: dict) -> str:
    test, gen = figures["test_set"], figures["generator"]
    epochs, planned = training["epochs"], config["epochs"]
    status = ("finished" if epochs >= planned else
              f"**{epochs} of the {planned} planned epochs: the run was still training when this "
              "was exported**, latest epoch so far")
    # A run extended by rerunning its command with a larger --epochs stores the last --epochs given.
    command = (f"visiontk --seed {config['seed']} gan train {' '.join(config['data'])} --out {training['run']} "
               f"--epochs {planned}")
    minutes = training["total_seconds"] / 60
    speed = (f"median {training['epoch_seconds_median']:.0f} s and "
             f"{training['images_per_second_median']:.0f} images/s per epoch")
    test_is = f"{test['inception_score']:.2f} ± {test['inception_score_std']:.2f}"
    gen_is = f"{gen['inception_score']:.2f} ± {gen['inception_score_std']:.2f}"
    fraction = 100 * figures["generator_is_fraction_of_test"]
    score_command = f"visiontk gan score --model {MODEL} -n {SAMPLES} --seed {SEED} --reference {TRAIN}"
    return f"""# dcgan-fashion-mnist

DCGAN (Radford, Metz & Chintala 2015) generator for 28x28 grayscale Fashion-MNIST images, the default
model of `visiontk gan generate`.

- Architecture: `visiontk.backbones.dcgan.dcgan_generator(28, 1, latent_dim=100, width=64)`:
  latent 100 -> dense 7x7x128 -> BN/ReLU -> 4x4 transposed conv (64, stride 2) -> BN/ReLU -> 4x4
  transposed conv (1, stride 2) -> tanh. Discriminator (not shipped): 4x4 conv 64 s2 -> LeakyReLU(0.2)
  -> conv 128 s2 -> BN -> LeakyReLU(0.2) -> dense 1. Init N(0, 0.02); Adam 2e-4, beta1 0.5; batch 128.
- Data: Fashion-MNIST training set (60 000 images, Debian package `dataset-fashion-mnist`).
- Training command (on 2 CPU cores shared with other jobs, run with `nice -n 15`):
  `{command}`
- Training: {epochs} epochs ({status}), {training['steps']} steps, {minutes:.0f} minutes in all;
  {speed} on the shared CPU.
- Exported (epoch {exported['epochs']}) with
  `visiontk gan export {training['run']} -o models/{MODEL}.weights.h5`.

## Scores

Judge `fashion-mnist-judge`; {SAMPLES} images; IS over 10 splits; FID against the 60 000 training images.

| images | Inception Score | FID |
|---|---|---|
| Fashion-MNIST test set (ceiling / floor) | {test_is} | {test['fid']:.2f} |
| this generator, {gen['n']} samples (seed {gen['seed']}) | {gen_is} | {gen['fid']:.2f} |

The generator's IS is {fraction:.0f}% of the test set's (target: >= 80%).
Measured with `python benchmarks/gan_bench.py --only scores`, the same as
`{score_command}`.

## File

- `{MODEL}.weights.h5`: {exported['size']} bytes, sha256 `{exported['sha256']}`
- `{MODEL}.json`: the generator configuration.
- Samples: `docs/images/gan_fashion_mnist_samples.png`;
  loss curve: `docs/images/gan_fashion_mnist_loss_curve.png`.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=("scores", "speed"))
    parser.add_argument("--run", type=Path, help="also report the epochs of this training run")
    parser.add_argument("--refresh", type=Path, metavar="RUN_DIR", help="ship RUN_DIR's latest generator")
    args = parser.parse_args()
    if args.refresh:
        print(json.dumps(refresh(args.refresh), indent=2))
        return
    report = {}
    if args.only in (None, "scores"):
        report["scores"] = score_figures()
    if args.only in (None, "speed"):
        report["speed"] = speed_figures()
    if args.run:
        report["run"] = run_figures(args.run)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
