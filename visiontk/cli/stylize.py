"""`visiontk stylize`: paint photos in the style of paintings, by optimisation (Gatys et al.) or with a
trained feed-forward network (Johnson et al.); `stylize train` and `stylize export` make such networks."""
from __future__ import annotations

from pathlib import Path

import click
from click.core import ParameterSource

from visiontk.cli.common import (NON_NEGATIVE_FLOAT, POSITIVE_FLOAT, FiniteFloatRange,
                                 batch_options, bounded_float, emit, export_output_option, input_paths,
                                 json_option, output_for, overwrite_option, progress_reporter, run_batch,
                                 run_dir_argument, settings_options, this_shard, training_settings)
from visiontk.imageio import write_image
from visiontk.atomic import check_output
from visiontk.style.training import TrainConfig

# Mirrors visiontk.style.transfer's defaults; kept here so that `--help` does not import TensorFlow.
DEFAULTS = {"backbone": "vgg19", "size": 512, "scales": 2, "content_weight": 1.0, "style_weight": 1e-3,
            "tv_weight": 1e-2, "content_layers": "block4_conv2",
            "style_layers": "block1_conv1,block2_conv1,block3_conv1,block4_conv1,block5_conv1"}
MAX_SIZE = 8192  # VGG's activations at a bigger size don't fit in memory: refuse before allocating


def _numbers(kind: type, minimum: float | None = None):
    """A click callback parsing 'a,b,c' into a tuple of `kind` (None stays None), each >= minimum."""
    def parse(ctx, param, value):
        if value is None:
            return None
        try:
            numbers = tuple(kind(item) for item in value.split(","))
        except ValueError:
            raise click.BadParameter(f"expected comma-separated numbers, got {value!r}") from None
        if minimum is not None and any(n < minimum for n in numbers):
            raise click.BadParameter(f"each value must be at least {minimum}, got {value!r}")
        return numbers
    return parse


def _names(ctx, param, value: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in value.split(",") if name.strip())


class DefaultCommandGroup(click.Group):
    """A group whose first argument may be one of its commands or, if it is not, the arguments of the
    default command: `stylize photo.jpg style.jpg` is `stylize apply photo.jpg style.jpg`."""

    default_command = "apply"

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ctx.help_option_names):
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)


@click.group("stylize", cls=DefaultCommandGroup)
def command() -> None:
    """Paint photos in the style of a painting.

    \b
      visiontk stylize photo.jpg starry_night.jpg -o out.jpg     (Gatys: optimise, any painting)
      visiontk stylize photos/ --model starry-night --output-dir painted/   (a trained network: fast)
      visiontk stylize train painting.jpg photos/ --out runs/mystyle      (train such a network)
      visiontk stylize export runs/mystyle -o mystyle.weights.h5

    `stylize ARGS` is short for `stylize apply ARGS`.
    """


@command.command("apply")
@click.argument("images", nargs=-1, required=True, metavar="CONTENT STYLE [STYLE...]")
@click.option("-s", "--style", "styles", multiple=True, metavar="STYLE",
              help="A style image (repeatable). With it, every IMAGE is a photo to stylize.")
@click.option("-m", "--model", metavar="NAME|FILE",
              help="Paint with a trained network (starry-night, or a .weights.h5 from "
                   "`stylize export`) instead of optimising: every IMAGE is a photo. Fast.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the result (one photo).")
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the results of a batch, named PHOTO_stylized.EXT.")
@click.option("--backbone", type=click.Choice(["vgg19", "vgg16"]), default=DEFAULTS["backbone"],
              show_default=True, help="The ImageNet VGG network whose features define content and style.")
@click.option("--size", type=click.IntRange(32, MAX_SIZE), default=DEFAULTS["size"], show_default=True,
              help="Long side of the result in pixels.")
@click.option("--scales", type=click.IntRange(1, 6), default=DEFAULTS["scales"], show_default=True,
              help="Coarse-to-fine steps: each scale halves the size of the one after it.")
@click.option("--iterations", callback=_numbers(int, minimum=1), metavar="N[,N...]",
              help="Iterations per scale (one value for all, or one per scale, coarsest first). "
                   "[default: L-BFGS 80 per coarse scale, 40 at full size; Adam 200 and 100]")
@click.option("--optimizer", type=click.Choice(["lbfgs", "adam"]), default="lbfgs", show_default=True)
@click.option("--learning-rate", type=POSITIVE_FLOAT,
              help="Adam's step size in pixel units.  [default: 4]")
@click.option("--init", type=click.Choice(["content", "noise", "style"]), default="content",
              show_default=True, help="What the optimisation starts from.")
@click.option("--seed", type=click.IntRange(min=0), help="Seed for --init noise (default: the global --seed).")
@click.option("--content-weight", type=NON_NEGATIVE_FLOAT, default=DEFAULTS["content_weight"],
              show_default=True)
@click.option("--style-weight", type=NON_NEGATIVE_FLOAT, default=DEFAULTS["style_weight"],
              show_default=True)
@click.option("--tv-weight", type=NON_NEGATIVE_FLOAT, default=DEFAULTS["tv_weight"], show_default=True,
              help="Weight of the total-variation (smoothness) term.")
@click.option("--style-blend", callback=_numbers(float), metavar="W1,W2,...",
              help="How much of each style to mix in (default: equal).")
@click.option("--style-scale", type=bounded_float(0, 16, low_open=True), default=1.0, show_default=True,
              help="Size of the style image relative to the result: above 1 gives finer strokes, "
                   "below 1 bigger ones.")
@click.option("--preserve-color", is_flag=True,
              help="Transfer the style on luminance only and keep the photo's colours.")
@click.option("--strength", type=FiniteFloatRange(0, 1), default=1.0, show_default=True,
              help="With --model: how much paint, from 0 (the photo) to 1 (the network's painting).")
@click.option("--content-layers", default=DEFAULTS["content_layers"], show_default=True, callback=_names)
@click.option("--style-layers", default=DEFAULTS["style_layers"], show_default=True, callback=_names)
@click.option("--precision", type=click.Choice(["auto", "float32", "bfloat16"]), default="auto",
              show_default=True, help="What VGG computes in: auto picks bfloat16 where the hardware runs "
                                      "it natively (recent GPUs; CPUs with AMX), else float32.")
@click.option("--save-every", type=click.IntRange(min=0), default=0,
              help="Also write the image every N iterations, as OUT_scaleS_iterN.EXT.")
@click.option("--consistency/--no-consistency", default=True, show_default=True,
              help="For video clips: blend in the previous painted frame, warped by optical flow, where "
                   "the scene moved consistently (steadier, less flicker). With -s, each frame's "
                   "optimisation also starts from it.")
@batch_options()
def apply(images, styles, model, output, output_dir, backbone, size, scales, iterations, optimizer,
            learning_rate, init, seed, content_weight, style_weight, tv_weight, style_blend, style_scale,
            preserve_color, strength, content_layers, style_layers, precision, save_every, consistency, crf,
            overwrite, skip_existing, continue_on_error, as_json) -> int:
    """Paint CONTENT in the style of STYLE (several styles are mixed), or with a trained --model.

    \b
      visiontk stylize photo.jpg starry_night.jpg -o out.jpg
      visiontk stylize photo.jpg scream.jpg starry_night.jpg --style-blend 0.3,0.7 -o mix.jpg
      visiontk stylize photos/ -s starry_night.jpg --output-dir painted/
      visiontk stylize photos/ --model starry-night --output-dir painted/

    \b
    The usage is `stylize CONTENT STYLE [STYLE...]`; with -s/--style, every IMAGE (file or folder) is a
    photo and the results go to --output-dir. The styles' Gram targets are computed once for a batch.
    Style images are resized so that their long side is --style-scale times the result's.
    Video clips (.mp4 .mov .mkv .webm .avi) are painted frame by frame, sound and timing kept; with
    --model they keep their frame size unless --size is given.
    """
    if model is not None and styles:
        raise click.UsageError("give either --model or style images (-s), not both")
    if model is None and strength != 1.0:
        raise click.UsageError("--strength works with --model (with style images, lower --style-weight)")
    if styles or model is not None:
        contents = input_paths(images)
    elif len(images) < 2:
        raise click.UsageError("give a CONTENT image and at least one STYLE image (or use -s STYLE)")
    else:
        contents, styles = input_paths(images[:1]), images[1:]
    if style_blend is not None and len(style_blend) != len(styles):
        raise click.UsageError(f"--style-blend has {len(style_blend)} weights for {len(styles)} styles")
    if size * style_scale > MAX_SIZE:  # the style image is resized to this: refuse before allocating
        raise click.UsageError(f"--size {size} x --style-scale {style_scale:g} makes a style image over "
                               f"{MAX_SIZE} pixels; lower one of them")
    if output is not None and (output_dir is not None or len(contents) > 1):
        raise click.UsageError("-o names one result: for several photos use --output-dir")
    if output is None and output_dir is None:
        raise click.UsageError("give -o OUT (or --output-dir DIR)")
    contents = this_shard(contents)

    destination = _destinations(output, output_dir)
    for content in contents:  # fail before the slow part if a result may not be written
        if not (skip_existing and destination(content).exists()):
            check_output(destination(content), overwrite)
    files = dict(consistency=consistency, crf=crf, overwrite=overwrite)
    if model is not None:
        from visiontk.style import FastStylizer, paint_file

        painter = FastStylizer(model, precision=precision)
        size_given = click.get_current_context().get_parameter_source("size") is ParameterSource.COMMANDLINE
        options = dict(size=size if size_given else None, preserve_color=preserve_color, strength=strength)
        work = _skipping(skip_existing, destination, lambda c, out: paint_file(painter, c, out, **options, **files))
        return run_batch(contents, work, as_json=as_json, continue_on_error=continue_on_error, describe=_describe)

    from visiontk.style import Stylizer, stylize_file

    stylizer = Stylizer(list(styles), backbone=backbone, content_layers=content_layers,
                        style_layers=style_layers, content_weight=content_weight,
                        style_weight=style_weight, tv_weight=tv_weight, style_blend=style_blend,
                        style_scale=style_scale, preserve_color=preserve_color, precision=precision)
    options = dict(size=size, scales=scales, iterations=iterations, optimizer=optimizer, init=init,
                   learning_rate=learning_rate, seed=seed, save_every=save_every)
    work = _skipping(skip_existing, destination, lambda c, out: stylize_file(stylizer, c, out, **options, **files))
    return run_batch(contents, work, as_json=as_json, continue_on_error=continue_on_error, describe=_describe)


def _destinations(output: Path | None, output_dir: Path | None):
    """The result's path for each input: -o, or PHOTO_stylized.EXT in --output-dir (a clip keeps a video
    container)."""
    from visiontk.videoio import is_video, output_extension

    def destination(content: Path) -> Path:
        if output is not None:
            return output
        return output_for(content, output_dir, "_stylized", output_extension(content) if is_video(content) else None)
    return destination


def _skipping(skip_existing: bool, destination, paint):
    """run_batch's work: paint(content, target), or nothing when --skip-existing finds the target."""
    def work(content: Path) -> dict | None:
        target = destination(content)
        if skip_existing and target.exists():
            return None
        return paint(content, target)
    return work


def _describe(record: dict) -> str:
    if "frames" in record:
        steady = "with" if record["consistency"] else "without"
        return (f"{record['input']} -> {record['output']} ({record['frames']} frames {steady} temporal "
                f"consistency, {record['seconds']:.1f} s)")
    if "model" in record:
        return (f"{record['input']} -> {record['output']} ({record['width']}x{record['height']}, "
                f"{record['seconds']:.2f} s)")
    return (f"{record['input']} -> {record['output']} ({record['width']}x{record['height']}, "
            f"{record['iterations']} iterations in {record['seconds']:.1f} s, loss {record['loss']:.4g})")


@command.command("texture")
@click.argument("source", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where to write the texture.")
@click.option("--size", type=click.IntRange(32, MAX_SIZE), default=512, show_default=True,
              help="Side of the square texture in pixels.")
@click.option("--tileable", is_flag=True, help="Make opposite edges continue each other (seamless tiles).")
@click.option("--scales", type=click.IntRange(1, 6), default=DEFAULTS["scales"], show_default=True,
              help="Coarse-to-fine steps: each scale halves the size of the one after it.")
@click.option("--iterations", callback=_numbers(int, minimum=1), metavar="N[,N...]",
              help="L-BFGS iterations per scale, coarsest first.  [default: 80 per coarse scale, 40 at full size]")
@click.option("--style-scale", type=bounded_float(0, 16, low_open=True), default=1.0, show_default=True,
              help="Size of SOURCE relative to the result: above 1 gives a finer texture.")
@click.option("--seed", type=click.IntRange(min=0), help="Seed of the starting noise (default: the global --seed).")
@click.option("--backbone", type=click.Choice(["vgg19", "vgg16"]), default=DEFAULTS["backbone"], show_default=True)
@click.option("--precision", type=click.Choice(["auto", "float32", "bfloat16"]), default="auto", show_default=True)
@overwrite_option
@json_option
def texture(source: Path, output: Path, size: int, tileable: bool, scales: int, iterations, style_scale: float,
            seed: int | None, backbone: str, precision: str, overwrite: bool, as_json: bool) -> int:
    """Synthesise a texture like SOURCE from noise (Gatys et al. 2015: the same Gram statistics, no content).

    \b
      visiontk stylize texture bricks.jpg -o bricks_512.png --size 512 --tileable
    """
    from visiontk.style import synthesize

    check_output(output, overwrite)
    result = synthesize(source, size, tileable=tileable, scales=scales, iterations=iterations, seed=seed,
                        backbone=backbone, style_scale=style_scale, precision=precision)
    write_image(output, result.image, overwrite=overwrite)
    final = result.scales[-1]
    record = {"input": source, "output": output, "ok": True, "width": final.width, "height": final.height,
              "tileable": tileable, "iterations": sum(s.iterations for s in result.scales),
              "seconds": round(result.seconds, 2), "style_loss": final.style_loss}
    emit(record, as_json, f"{source} -> {output} ({final.width}x{final.height}{', tileable' if tileable else ''}, "
                          f"{record['iterations']} iterations in {record['seconds']:.1f} s)")
    return 0


@command.command("train")
@click.argument("style_image", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("data", nargs=-1, required=True)
@click.option("--out", "run_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="The run folder (created; run the same command again to resume).")
@settings_options(TrainConfig, ("steps", "batch_size", "crop", "crop_max", "jitter", "learning_rate",
                                 "content_weight", "style_weight", "tv_weight", "style_scale", "style_size",
                                 "filters", "residual_blocks", "init_from", "samples", "sample_every",
                                 "checkpoint_every", "precision"))
@json_option
@click.pass_context
def train(ctx: click.Context, style_image: Path, data: tuple[str, ...], run_dir: Path, as_json: bool,
          **settings) -> int:
    """Train a network that paints like STYLE_IMAGE, on the photos in DATA (folders or files).

    \b
      visiontk stylize train starry_night.jpg bsds500/ --out runs/starry --samples tubingen.jpg

    Uses the same objective as `stylize` (VGG16 features: content, Gram style, smoothness) on random
    crops of the photos, with Adam. Checkpoints go to RUN/checkpoints, losses to RUN/metrics.csv and
    RUN/curves.png, sample sheets to RUN/samples. Ctrl-C or SIGTERM saves; the same command resumes
    (--steps, --learning-rate, the --sample/--checkpoint settings and the loss weights may change on resume, the
    rest may not).
    """
    from visiontk.style import training

    settings, given = training_settings(ctx, settings)
    settings["samples"] = [str(p) for p in settings["samples"]]
    config = training.config_from(str(style_image), list(data), **settings)
    last = training.train(list(data), run_dir, config, given=["style", "data", *given],
                             on_progress=progress_reporter(run_dir, as_json))
    if not as_json:
        click.echo(f"{run_dir}: step {last['step']}, loss {last.get('loss', float('nan')):.4g} "
                   f"(export with `visiontk stylize export {run_dir} -o NAME.weights.h5`)")
    return 0


@command.command("export")
@run_dir_argument
@export_output_option("The weights file to write (NAME.weights.h5), for `stylize --model FILE`.")
@overwrite_option
@json_option
def export(run_dir: Path, output: Path, overwrite: bool, as_json: bool) -> int:
    """Write the network trained in RUN_DIR as a weights file."""
    from visiontk.style import export as export_network

    written = export_network(run_dir, output, overwrite=overwrite)
    emit({"input": str(run_dir), "weights": str(written)}, as_json, f"{run_dir} -> {written}")
    return 0
