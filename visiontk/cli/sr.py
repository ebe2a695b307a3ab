"""`visiontk sr`: EDSR super-resolution (upscale, train, eval)."""
from __future__ import annotations

from pathlib import Path

import click

from visiontk.cli.common import emit, json_option, strategy_option

SCALE = click.Choice(["2", "3", "4"])


@click.group("sr")
def command() -> None:
    """Super-resolution with EDSR (Lim et al. 2017): upscale images x2, x3 or x4."""


@command.command("train")
@click.argument("hr_dirs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--scale", type=SCALE, default="2", show_default=True, help="Upscaling factor.")
@click.option("--out", "run_dir", required=True, type=click.Path(path_type=Path),
              help="Run folder for checkpoints, log.csv and best.weights.h5; an existing run resumes.")
@click.option("--steps", type=int, default=300_000, show_default=True, help="Total training steps to reach.")
@click.option("--batch", type=int, default=16, show_default=True, help="Patches per step.")
@click.option("--patch", type=int, default=48, show_default=True, help="LR patch side in pixels.")
@click.option("--lr", "learning_rate", type=float, default=1e-4, show_default=True, help="Adam learning rate.")
@click.option("--halve-every", type=int, default=200_000, show_default=True,
              help="Halve the learning rate every this many steps.")
@click.option("--val-every", type=int, default=500, show_default=True,
              help="Validation PSNR on the held-out images every this many steps.")
@click.option("--val-images", type=int, default=10, show_default=True,
              help="Images held out of training for validation.")
@click.option("--checkpoint-every", type=int, default=500, show_default=True, help="Steps between checkpoints.")
@click.option("--blocks", type=int, default=16, show_default=True, help="Residual blocks.")
@click.option("--features", type=int, default=64, show_default=True, help="Feature maps per conv.")
@click.option("--res-scaling", type=float, default=None, help="Residual scaling (0.1 for the full EDSR).")
@click.option("--init-from", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Start from these EDSR weights (another scale: the shared body only).")
@click.option("--precision", type=click.Choice(["float32", "mixed_bfloat16"]), default="float32",
              show_default=True, help="mixed_bfloat16 is ~5x faster on CPUs with AMX.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the patch sampler and init.")
@strategy_option
@json_option
def train_command(hr_dirs, scale, run_dir, steps, batch, patch, learning_rate, halve_every, val_every,
                  val_images, checkpoint_every, blocks, features, res_scaling, init_from, precision, seed,
                  strategy, as_json) -> int:
    """Train EDSR on the photos in HR_DIRS (LR made by bicubic downscaling).

    \b
    Example:
      visiontk sr train ../shared/data/sr-train/bsds500/{train,test} --scale 2 --out runs/x2
    """
    from visiontk.runtime import seed_everything
    from visiontk.sr.training import TrainConfig, train

    seed_everything(seed)
    config = TrainConfig(hr_dirs=[str(d) for d in hr_dirs], scale=int(scale), steps=steps, batch=batch,
                         patch=patch, learning_rate=learning_rate, halve_every=halve_every,
                         val_every=val_every, val_images=val_images, checkpoint_every=checkpoint_every,
                         blocks=blocks, features=features, res_scaling=res_scaling,
                         init_from=str(init_from) if init_from else None, strategy=strategy,
                         precision=precision, seed=seed)
    result = train(config, run_dir)
    emit(result, as_json, f"{result['run']}: step {result['step']}, loss {result['loss']:.3f}, "
                          f"best validation PSNR {result['best_val_psnr']:.2f} dB")
    return 0
