"""`visiontk gan`: train a DCGAN, generate and interpolate images, score them (IS and FID)."""
from __future__ import annotations

from pathlib import Path

import click

from visiontk.cli.common import (NON_NEGATIVE_INT, POSITIVE_INT, OldNameOption, bounded_int, emit,
                                 export_output_option, json_option, overwrite_option, progress_reporter,
                                 run_dir_argument, settings_options, strategy_option, training_settings)
from visiontk.gan import MAX_IMAGES, MAX_STEPS
from visiontk.gan.training import TrainConfig

DEFAULTS = TrainConfig()


@click.group("gan", short_help="DCGAN: train, generate, interpolate, score.")
def command() -> None:
    """DCGAN (Radford et al. 2015): train, generate, interpolate, score."""


@command.command("train")
@click.argument("data", nargs=-1, type=click.Path(path_type=Path))
@click.option("--out", "-o", "run_dir", cls=OldNameOption, type=click.Path(path_type=Path, file_okay=False),
              help="The run folder (created; run the same command again to resume).")
@click.option("--resume", type=click.Path(path_type=Path, file_okay=False), hidden=True,
              help="The same as --out RUN (DATA may then be left out).")
@settings_options(TrainConfig, ("image_size", "masks", "epochs", "batch_size", "latent_dim", "width",
                                 "learning_rate", "log_every", "limit"))
@strategy_option
@json_option
@click.pass_context
def train_command(ctx: click.Context, data: tuple[Path, ...], run_dir: Path | None, resume: Path | None,
                  as_json: bool, **settings) -> int:
    """Train a DCGAN on DATA: folders of images (recursive), IDX files (MNIST layout, .gz or not) or
    .npz files. Losses go to RUN/metrics.csv and RUN/curves.png; each epoch writes a checkpoint
    (RUN/checkpoints) and a sample sheet from fixed noise (RUN/samples). Ctrl-C or SIGTERM saves; the
    same command resumes exactly (--epochs, --learning-rate, --log-every and --strategy may change on resume, the
    rest may not).

    \b
    Example:
      visiontk --seed 0 gan train /usr/share/datasets/fashion-mnist --out runs/fmnist --epochs 20
      visiontk gan export runs/fmnist -o my-dcgan.weights.h5
    """
    from visiontk.errors import BadInputError
    from visiontk.gan import training

    if run_dir is not None and resume is not None and run_dir != resume:
        raise BadInputError("--resume RUN is the same as --out RUN: give one run folder")
    run_dir = run_dir or resume
    if run_dir is None:
        raise BadInputError("give the run folder: --out RUN (a new one, or a run to resume)")
    settings, given = training_settings(ctx, settings)
    config = training.TrainConfig(data=[str(d) for d in data], **settings)
    last = training.train(list(data), run_dir, config, given=["data", *given] if data else given,
                          on_progress=progress_reporter(run_dir, as_json))
    if not as_json:
        click.echo(f"{run_dir}: step {last['step']}, d_loss {last.get('d_loss', float('nan')):.3f}, "
                   f"g_loss {last.get('g_loss', float('nan')):.3f} "
                   f"(export with `visiontk gan export {run_dir} -o NAME.weights.h5`)")
    return 0


model_option = click.option("--model", "-m", help="Shipped model name, run folder or .weights.h5 file "
                                                  "[default: dcgan-fashion-mnist].")
seed_option = click.option("--seed", type=NON_NEGATIVE_INT, help="Seed of the latent vectors (default: the global --seed, "
                                                    "else random; the one used is printed).")


@command.command("generate")
@model_option
@click.option("-n", "n", type=bounded_int(1, MAX_IMAGES), default=64, show_default=True,
              help="Number of images.")
@click.option("--grid", type=click.Path(path_type=Path, dir_okay=False), help="Write one sample sheet here.")
@click.option("--output-dir", type=click.Path(path_type=Path, file_okay=False), help="Write each image here.")
@click.option("--zoom", "--scale", "scale", cls=OldNameOption, type=bounded_int(1, 64), default=1,
              show_default=True, help="Enlarge the --grid sheet this many times (nearest neighbour), for viewing.")
@click.option("--rgba", is_flag=True, help="4-channel models: put the mask in the alpha channel instead of a "
                                           "separate -mask file.")
@seed_option
@overwrite_option
@json_option
def generate_command(model, n, grid, output_dir, scale, rgba, seed, overwrite, as_json) -> int:
    """Generate images with a trained DCGAN.

    \b
    Example:
      visiontk gan generate -n 64 --grid samples.png
    """
    from visiontk import gan

    result = gan.generate(model, n, grid=grid, output_dir=output_dir, seed=seed, rgba=rgba, scale=scale,
                          overwrite=overwrite)
    shown = result["written"] if len(result["written"]) <= 4 else result["written"][:2] + ["..."]
    emit({"input": result["model"], **result}, as_json,
         f"{result['n']} images from {result['model']} (seed {result['seed']}): {', '.join(shown)}")
    return 0


@command.command("interpolate")
@model_option
@click.argument("seed_a", type=NON_NEGATIVE_INT)
@click.argument("seed_b", type=NON_NEGATIVE_INT)
@click.option("-n", "--steps", "steps", cls=OldNameOption, type=bounded_int(2, MAX_STEPS), default=8,
              show_default=True, help="Images along the walk, ends included.")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), required=True)
@overwrite_option
@json_option
def interpolate_command(model, seed_a, seed_b, steps, output, overwrite, as_json) -> int:
    """Walk the latent space from SEED_A's sample to SEED_B's (spherical interpolation) in one strip.

    \b
    Example:
      visiontk gan interpolate 1 2 -n 8 -o walk.png
    """
    from visiontk import gan

    result = gan.interpolate(model, seed_a, seed_b, steps=steps, output=output, overwrite=overwrite)
    emit({"input": result["model"], **result}, as_json,
         f"{steps} steps from seed {seed_a} to {seed_b}: {', '.join(result['written'])}")
    return 0


@command.command("score")
@click.argument("images", required=False, type=click.Path(path_type=Path))
@model_option
@click.option("-n", "n", type=bounded_int(1, 1_000_000), default=5000, show_default=True,
              help="Samples to generate with --model (or the most images to read from IMAGES).")
@click.option("--reference", type=click.Path(path_type=Path),
              help="Real data to compute the FID against (folder, IDX file or .npz).")
@click.option("--judge", type=click.Choice(["fashion-mnist", "inception"]), default="fashion-mnist",
              show_default=True,
              help="Network whose probabilities give the IS and whose features give the FID.")
@click.option("--splits", type=bounded_int(1, 1000), default=10, show_default=True,
              help="Parts the Inception Score is averaged over (each needs at least one image).")
@seed_option
@json_option
def score_command(images, model, n, reference, judge, splits, seed, as_json) -> int:
    """Inception Score (mean ± std over splits) and FID of IMAGES (a folder, IDX file, .npz, or `-` for
    image paths on stdin), or of samples of --model.

    \b
    Example:
      visiontk gan score --model dcgan-fashion-mnist -n 10000 \\
          --reference /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
    """
    from visiontk import gan
    from visiontk.errors import BadInputError

    if images is not None and model is not None:
        raise BadInputError("give IMAGES or --model, not both")
    result = gan.score(images, model=model, n=n, reference=reference, judge=judge, splits=splits,
                       seed=seed)
    what = result.get("images") or f"{result['n']} samples of {result['model']}"
    text = (f"{what}: IS {result['inception_score']:.3f} ± {result['inception_score_std']:.3f} "
            f"({judge} judge)")
    if "fid" in result:
        text += f", FID {result['fid']:.3f} against {result['reference']}"
    emit({"input": result.get("images") or result.get("model"), **result}, as_json, text)
    return 0


@command.command("export")
@run_dir_argument
@click.argument("destination", required=False, type=click.Path(path_type=Path, dir_okay=False))
@export_output_option("The weights file to write (NAME.weights.h5; NAME.json is written beside it).",
                      required=False)
@overwrite_option
@json_option
def export_command(run_dir, destination, output, overwrite, as_json) -> int:
    """Write the generator of RUN_DIR's last checkpoint to -o NAME.weights.h5, plus NAME.json, for
    `gan generate --model NAME.weights.h5` (DESTINATION, the older form, is the same as -o).

    \b
    Example:
      visiontk gan export runs/fmnist -o my-dcgan.weights.h5
    """
    from visiontk import gan
    from visiontk.errors import UsageError
    from visiontk.gan.model import generator_config_path

    if (destination is None) == (output is None):
        raise UsageError("give the file to write once: -o NAME.weights.h5")
    written = gan.export(run_dir, output or destination, overwrite=overwrite)
    config = generator_config_path(written)
    emit({"input": str(run_dir), "weights": str(written), "config": str(config)}, as_json,
         f"{run_dir} -> {written} (and {config.name})")
    return 0


@command.command("train-judge")
@click.argument("data", type=click.Path(path_type=Path, exists=True))
@click.option("--test-data", type=click.Path(path_type=Path, exists=True), help="Labelled test images.")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), required=True)
@click.option("--epochs", type=POSITIVE_INT, default=12, show_default=True)
@click.option("--batch-size", type=bounded_int(1, 65536), default=128, show_default=True)
@overwrite_option
@json_option
def train_judge_command(data, test_data, output, epochs, batch_size, overwrite, as_json) -> int:
    """Train the Fashion-MNIST judge (a small CNN) on labelled IDX images.

    \b
    Example:
      visiontk gan train-judge /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz \\
          --test-data /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz -o judge.weights.h5
    """
    from visiontk.gan import train_judge

    result = train_judge(data, test_data, output, epochs=epochs, batch_size=batch_size, overwrite=overwrite)
    emit({"input": data, **result}, as_json,
         f"{output}: test accuracy {result.get('test_accuracy', 'n/a')} after {epochs} epochs "
         f"({result['train_seconds']:.0f} s)")
    return 0
