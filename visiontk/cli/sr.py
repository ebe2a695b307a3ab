"""`visiontk sr`: EDSR/WDSR super-resolution (upscale, train, eval, export, compare)."""
from __future__ import annotations

from pathlib import Path

import click

from visiontk.cli.common import (POSITIVE_INT, FiniteFloatRange, OldNameOption, batch_options, emit,
                                 export_output_option, input_paths, inputs_argument, json_option, output_for,
                                 overwrite_option, progress_reporter, run_batch, run_dir_argument,
                                 settings_options, strategy_option, this_shard, training_settings)
from visiontk.compat import SR_TRAIN_SEED_OPTION
from visiontk.sr.training import TrainConfig

SCALE = click.Choice(["2", "3", "4"])


@click.group("sr", short_help="Super-resolution with EDSR/WDSR: upscale, eval, train.")
def command() -> None:
    """Super-resolution with EDSR (Lim et al. 2017) or WDSR-B (Yu et al. 2018): upscale images x2, x3 or
    x4; train them, or fine-tune one SRGAN-style (Ledig et al. 2017) for photo-realistic texture."""


@command.command("train")
@click.argument("data", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--out", "run_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="The run folder (config.json, metrics.csv, checkpoints/, curves.png, best.weights.h5); "
                   "run the same command again to resume.")
@settings_options(TrainConfig, ("scale", "steps", "batch_size", "patch", "degradation", "degradation_params",
                                "learning_rate",
                                "halve_every", "val_every", "val_images", "checkpoint_every", "arch", "blocks",
                                "features", "expansion", "res_scaling", "init_from", "precision", "gan", "gan_loss",
                                "adversarial_weight", "pixel_weight", "content_loss", "content_layer",
                                "discriminator_features"))
# The global `visiontk --seed N` is the way to seed; `sr train --seed N` (the older form, in the model
# cards' commands) still works (see visiontk.compat).
@click.option(SR_TRAIN_SEED_OPTION, "seed", type=click.IntRange(min=0), default=0, hidden=True)
@strategy_option
@json_option
@click.pass_context
def train_command(ctx: click.Context, data: tuple[Path, ...], run_dir: Path, as_json: bool, **settings) -> int:
    """Train EDSR or WDSR on the photos in DATA (LR made by bicubic downscaling, or degraded as real
    photos), or fine-tune a trained one as a GAN (--gan).

    \b
    Examples:
      visiontk sr train ../shared/data/sr-train/bsds500/{train,test} --scale 2 --out runs/x2
      visiontk sr train ../shared/data/sr-train/bsds500/{train,test} --arch wdsr --scale 4 \\
          --learning-rate 1e-3 --out runs/wdsr-x4
      visiontk sr train ../shared/data/sr-train/bsds500/{train,test} --scale 4 --patch 24 --gan \\
          --init-from models/edsr-x4.weights.h5 --out runs/gan-x4

    Losses and validation PSNR go to RUN/metrics.csv and RUN/curves.png, the best-validated weights to
    RUN/best.weights.h5. Ctrl-C or SIGTERM saves a checkpoint; the same command resumes (--steps,
    --learning-rate, --halve-every and --strategy may change on resume, the rest may not).
    """
    from visiontk.sr import training

    settings, given = training_settings(ctx, settings)
    reported = []
    report = progress_reporter(run_dir, as_json)

    def on_progress(row: dict) -> None:
        reported.append(row)
        report(row)

    result = training.train([str(d) for d in data], run_dir, training.TrainConfig(**settings),
                            given=["data", *given], on_progress=on_progress)
    if as_json:
        if not reported:  # the run had already reached --steps: where it stands
            emit({"input": str(run_dir), **result}, True)
        return 0
    click.echo(f"{run_dir}: step {result['step']}, loss {result.get('loss', float('nan')):.3f}{_best(result)} "
               f"(export with `visiontk sr export {run_dir} -o NAME.weights.h5`)")
    return 0


def _best(result: dict) -> str:
    """The run's best validation score, as the end of `sr train`'s summary line."""
    if result.get("best_val_perceptual") is not None:
        return f", best validation perceptual distance {result['best_val_perceptual']:.4f}"
    if result.get("best_val_psnr") is not None:
        return f", best validation PSNR {result['best_val_psnr']:.2f} dB"
    return ""


@command.command("upscale")
@inputs_argument
@click.option("--scale", type=SCALE, default=None,
              help="Upscaling factor [default: 4, or the scale of --model's weights file].")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Output file (one input only).")
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the outputs, named NAME_xS.EXT (default: beside each input).")
@click.option("--model", help="Registry name (default edsr-xS, shipped) or a .weights.h5 file.")
@click.option("--outscale", type=FiniteFloatRange(min=1), default=None,
              help="Output size as a factor of the input, e.g. 1.5 or 3.2: runs the model scale at or "
                   "above it (or --scale/--model's), then downsizes with an antialiased filter.")
@click.option("--width", "out_width", type=POSITIVE_INT, default=None,
              help="Output width in pixels (height follows the aspect ratio).")
@click.option("--height", "out_height", type=POSITIVE_INT, default=None,
              help="Output height in pixels (with --width too: the largest size that fits both).")
@click.option("--precision", type=click.Choice(["auto", "float32", "bfloat16"]), default="auto",
              show_default=True, help="auto: bfloat16 where the hardware runs it faster (AMX or "
                                      "AVX512-BF16 CPUs, recent GPUs), else float32.")
@click.option("--tile", type=click.IntRange(16), default=None,
              help="Tile side in input pixels [default: automatic: the largest whose network memory "
                   "fits ~640 MB; tiles are batched within that budget].")
@click.option("--overlap", type=click.IntRange(0), default=16, show_default=True,
              help="Context pixels around each tile; the inner half is blended.")
@click.option("--self-ensemble", is_flag=True,
              help="Average the outputs for the input and its three flips: 4x the time, a little more PSNR, "
                   "and it weakens the faint grid srgan-x4 leaves on smooth areas.")
@batch_options()
def upscale_command(inputs, scale, output, output_dir, model, outscale, out_width, out_height, precision, tile,
                    overlap, self_ensemble, crf, overwrite, skip_existing, continue_on_error, as_json) -> int:
    """Upscale images x2, x3 or x4 with EDSR (tiled, so any size fits in memory), or to any size up to x4.

    Alpha channels are upscaled with bicubic; grayscale images stay grayscale; 16-bit PNG and TIFF stay
    16-bit (to a .png or .tif output). For JPEG-compressed or noisy photos use --model edsr-x4-real,
    which removes the artefacts that edsr-x4 would sharpen. Video clips (.mp4 .mov
    .mkv .webm .avi) are upscaled frame by frame, keeping their timing, rotation and sound.

    \b
    Examples:
      visiontk sr upscale photo.png                      # photo_x4.png beside it
      visiontk sr upscale photo.png --scale 2 -o big.png
      visiontk sr upscale shots/ --output-dir big/ --skip-existing
      visiontk sr upscale clip.mp4 --scale 2 -o clip_x2.mp4
      visiontk sr upscale phone.jpg --model edsr-x4-real --outscale 2.5
      visiontk sr upscale scan.tif --width 3000 -o scan_big.tif
    """
    from visiontk.runtime import progress
    from visiontk.sr import Upscaler, check_outscale, output_suffix, resolve_scale, upscale_file
    from visiontk.videoio import is_video, output_extension

    paths = input_paths(inputs)
    if output is not None and len(paths) > 1:
        raise click.UsageError("-o/--output takes one input; use --output-dir for several")
    if outscale is not None and (out_width or out_height):
        raise click.UsageError("give --outscale or --width/--height, not both")
    paths = this_shard(paths)
    scale = resolve_scale(int(scale) if scale else None, model, outscale)
    check_outscale(scale, outscale)
    upscaler = Upscaler(scale, model, tile, overlap, precision, self_ensemble=self_ensemble)
    suffix = output_suffix(scale, outscale, out_width, out_height)
    options = dict(outscale=outscale, width=out_width, height=out_height, crf=crf, overwrite=overwrite)

    with progress(total=len(paths), desc="images", unit="img", disable=None if len(paths) > 1 else True) as bar:
        def work(path: Path) -> dict | None:
            target = output or output_for(path, output_dir, suffix, output_extension(path) if is_video(path) else None)
            record = None if skip_existing and target.exists() else upscale_file(upscaler, path, target, **options)
            bar.update(1)
            return record

        return run_batch(paths, work, as_json=as_json, continue_on_error=continue_on_error,
                         describe=lambda r: f"{r['input']} -> {r['output']} ({r['output_size'][0]}x"
                                            f"{r['output_size'][1]}, x{r['scale']})")


@command.command("eval")
@click.argument("hr_inputs", nargs=-1, required=True)
@click.option("--scale", type=SCALE, default="4", show_default=True, help="Upscaling factor.")
@click.option("--model", help="Registry name (default edsr-xS, shipped) or a .weights.h5 file.")
@click.option("--bicubic-only", is_flag=True, help="Score only the bicubic baseline (no weights needed).")
@click.option("--degrade", "degradation", type=click.Choice(["jpeg40", "noise5-jpeg75"]), default=None,
              help="Make the LR \"real\" first: JPEG quality 40, or Gaussian noise sigma 5 then JPEG 75.")
@click.option("--metrics", default="psnr,ssim", show_default=True, metavar="LIST",
              help="Comma-separated: psnr, ssim, perceptual (a VGG16 feature distance to the original in the "
                   "spirit of LPIPS, lower is better; needs the vgg16-imagenet weights).")
@click.option("--self-ensemble", is_flag=True,
              help="Score the average of the outputs for the input and its three flips, as `sr upscale "
                   "--self-ensemble` makes it (4x the time).")
@json_option
def eval_command(hr_inputs, scale, model, bicubic_only, degradation, metrics, self_ensemble, as_json) -> int:
    """Score a model against bicubic on HR images with the standard protocol.

    HR is cropped to a multiple of the scale, LR made by bicubic downscaling (then degraded with --degrade);
    PSNR and SSIM are measured on the BT.601 Y channel with SCALE border pixels removed, the perceptual
    distance on RGB with the same border removed.

    \b
    Examples:
      visiontk sr eval ../shared/data/sr/Set5 --scale 2
      visiontk sr eval ../shared/data/sr/Set5 --model wdsr-x4 --metrics psnr,ssim,perceptual
    """
    from visiontk.sr.evaluate import METRICS, evaluate

    chosen = [m.strip() for m in metrics.split(",") if m.strip()]
    unknown = [m for m in chosen if m not in METRICS]
    if unknown or not chosen:
        raise click.BadParameter(f"{metrics!r}: use a comma-separated list of {', '.join(METRICS)}",
                                 param_hint="--metrics")
    result = evaluate(hr_inputs, int(scale), model, bicubic_only=bicubic_only, degradation=degradation,
                      metrics=chosen, self_ensemble=self_ensemble)
    if as_json:
        for row in result["images"]:
            emit({"scale": result["scale"], "model": result["model"], **row}, True)
        emit({"scale": result["scale"], "model": result["model"], "image": "mean", **result["mean"]}, True)
        return 0
    shown = [m for m in METRICS if m in chosen]
    columns = [f"bicubic_{m}" for m in shown] + ([] if bicubic_only else shown)
    click.echo(f"x{result['scale']}  model: {result['model'] or 'bicubic only'}"
               + (f"  input: {degradation}" if degradation else ""))
    click.echo(f"{'image':<20}" + "".join(f" {c.replace('perceptual', 'percept'):>15}" for c in columns))
    for row in result["images"] + [{"image": "mean", **result["mean"]}]:
        click.echo(f"{row['image']:<20}" + "".join(f" {row[c]:>15.{2 if c.endswith('psnr') else 4}f}"
                                                  for c in columns))
    return 0


@command.command("export")
@run_dir_argument
@export_output_option("Weights file to write, e.g. models/edsr-x2.weights.h5 (the card goes beside it).")
@click.option("--which", type=click.Choice(["best", "latest"]), default="best", show_default=True,
              help="The weights with the best validation PSNR, or the last checkpoint's.")
@click.option("--eval-dir", type=click.Path(exists=True, path_type=Path),
              help="HR images to score the weights on for the model card (e.g. ../shared/data/sr/Set5).")
@overwrite_option
@json_option
def export_command(run_dir, output, which, eval_dir, overwrite, as_json) -> int:
    """Export a training run's weights with a model card (for models/).

    \b
    Example:
      visiontk sr export /work/runs/sr/x2 -o models/edsr-x2.weights.h5 \\
          --eval-dir ../shared/data/sr/Set5 --overwrite
    """
    from visiontk.sr.export import export

    result = export(run_dir, output, overwrite, which=which, eval_dir=eval_dir)
    scores = f", Set5 {result['psnr']:.2f} dB / {result['ssim']:.4f}" if result["psnr"] is not None else ""
    where = ("to ship it, put this entry in _SHIPPED_WEIGHTS in visiontk/sr/catalog.py (replacing one of the "
             f"same name): {result['catalog_line']}")
    emit(result, as_json, f"{result['output']} (x{result['scale']}, step {result['step']}{scores}); card "
                          f"{result['card']}\n{where}")
    return 0


@command.command("compare")
@click.argument("hr_image", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--scale", type=SCALE, default="4", show_default=True, help="Upscaling factor.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The side-by-side PNG to write.")
@click.option("--model", "models", multiple=True,
              help="Registry name (default edsr-xS, shipped) or a .weights.h5 file; repeat to compare models.")
@click.option("--degrade", "degradation", type=click.Choice(["jpeg40", "noise5-jpeg75"]), default=None,
              help="Degrade the LR first, as in `sr eval --degrade`.")
@click.option("--region", "--crop", "crop", cls=OldNameOption, nargs=3, type=int, default=None,
              metavar="X Y SIZE", help="The square of the HR image to show [default: the centre third].")
@click.option("--zoom", type=click.IntRange(1, 8), default=2, show_default=True, help="Enlarge the crop.")
@click.option("--self-ensemble", is_flag=True, help="Each model averages its outputs for the LR and its three "
                                                    "flips, as `sr upscale --self-ensemble` (4x the time).")
@overwrite_option
@json_option
def compare_command(hr_image, scale, output, models, degradation, crop, zoom, self_ensemble, overwrite,
                    as_json) -> int:
    """Picture bicubic | EDSR | original side by side on a crop of HR_IMAGE (downscaled first).

    \b
    Examples:
      visiontk sr compare ../shared/data/sr/Set5/butterfly.png -o butterfly_x4.png
      visiontk sr compare photo.png --degrade jpeg40 --model edsr-x4 --model edsr-x4-real -o jpeg.png
    """
    from visiontk.sr import side_by_side

    result = side_by_side(hr_image, output, int(scale), list(models) or None, tuple(crop) if crop else None,
                          zoom, overwrite, degradation, self_ensemble)
    scores = ", ".join(f"{m['model']} {m['psnr']:.2f} dB" for m in result["models"])
    emit({"input": hr_image, **result}, as_json,
         f"{result['output']}: bicubic {result['bicubic_psnr']:.2f} dB, {scores}")
    return 0
