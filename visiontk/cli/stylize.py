"""`visiontk stylize`: paint photos in the style of one or more paintings (Gatys et al. style transfer)."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from visiontk.cli.common import (continue_option, input_paths, json_option, output_for,
                                 overwrite_option, run_batch, shard_option, skip_existing_option,
                                 this_shard)
from visiontk.imageio import check_output, write_image

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


@click.command("stylize")
@click.argument("images", nargs=-1, required=True, metavar="CONTENT STYLE [STYLE...]")
@click.option("-s", "--style", "styles", multiple=True, metavar="STYLE",
              help="A style image (repeatable). With it, every IMAGE is a photo to stylize.")
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
@click.option("--learning-rate", type=click.FloatRange(min=0, min_open=True),
              help="Adam's step size in pixel units.  [default: 4]")
@click.option("--init", type=click.Choice(["content", "noise", "style"]), default="content",
              show_default=True, help="What the optimisation starts from.")
@click.option("--seed", type=int, help="Seed for --init noise (default: the global --seed).")
@click.option("--content-weight", type=float, default=DEFAULTS["content_weight"], show_default=True)
@click.option("--style-weight", type=float, default=DEFAULTS["style_weight"], show_default=True)
@click.option("--tv-weight", type=float, default=DEFAULTS["tv_weight"], show_default=True,
              help="Weight of the total-variation (smoothness) term.")
@click.option("--style-blend", callback=_numbers(float), metavar="W1,W2,...",
              help="How much of each style to mix in (default: equal).")
@click.option("--style-scale", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
              help="Size of the style image relative to the result: above 1 gives finer strokes, "
                   "below 1 bigger ones.")
@click.option("--preserve-color", is_flag=True,
              help="Transfer the style on luminance only and keep the photo's colours.")
@click.option("--content-layers", default=DEFAULTS["content_layers"], show_default=True, callback=_names)
@click.option("--style-layers", default=DEFAULTS["style_layers"], show_default=True, callback=_names)
@click.option("--precision", type=click.Choice(["auto", "float32", "bfloat16"]), default="auto",
              show_default=True, help="What VGG computes in: auto picks bfloat16 where the hardware runs "
                                      "it natively (recent GPUs; CPUs with AMX), else float32.")
@click.option("--save-every", type=click.IntRange(min=0), default=0,
              help="Also write the image every N iterations, as OUT_scaleS_iterN.EXT.")
@overwrite_option
@skip_existing_option
@continue_option
@shard_option
@json_option
def command(images, styles, output, output_dir, backbone, size, scales, iterations, optimizer,
            learning_rate, init, seed, content_weight, style_weight, tv_weight, style_blend, style_scale,
            preserve_color, content_layers, style_layers, precision, save_every, overwrite, skip_existing,
            continue_on_error, as_json) -> int:
    """Paint CONTENT in the style of STYLE (several styles are mixed).

    \b
      visiontk stylize photo.jpg starry_night.jpg -o out.jpg
      visiontk stylize photo.jpg scream.jpg starry_night.jpg --style-blend 0.3,0.7 -o mix.jpg
      visiontk stylize photos/ -s starry_night.jpg --output-dir painted/

    \b
    The usage is `stylize CONTENT STYLE [STYLE...]`; with -s/--style, every IMAGE (file or folder) is a
    photo and the results go to --output-dir. The styles' Gram targets are computed once for a batch.
    Style images are resized so that their long side is --style-scale times the result's.
    """
    if styles:
        contents = input_paths(images)
    elif len(images) < 2:
        raise click.UsageError("give a CONTENT image and at least one STYLE image (or use -s STYLE)")
    else:
        contents, styles = input_paths(images[:1]), images[1:]
    if style_blend is not None and len(style_blend) != len(styles):
        raise click.UsageError(f"--style-blend has {len(style_blend)} weights for {len(styles)} styles")
    if output is not None and (output_dir is not None or len(contents) > 1):
        raise click.UsageError("-o names one result: for several photos use --output-dir")
    if output is None and output_dir is None:
        raise click.UsageError("give -o OUT (or --output-dir DIR)")
    contents = this_shard(contents)

    def destination(content: Path) -> Path:
        return output if output is not None else output_for(content, output_dir, "_stylized")

    for content in contents:  # fail before the slow part if a result may not be written
        if not (skip_existing and destination(content).exists()):
            check_output(destination(content), overwrite)

    from visiontk.style import Stylizer

    stylizer = Stylizer(list(styles), backbone=backbone, content_layers=content_layers,
                        style_layers=style_layers, content_weight=content_weight,
                        style_weight=style_weight, tv_weight=tv_weight, style_blend=style_blend,
                        style_scale=style_scale, preserve_color=preserve_color, precision=precision)

    def work(content: Path) -> dict | None:
        target = destination(content)
        if skip_existing and target.exists():
            return None

        def save_intermediate(image, scale: int, iteration: int) -> None:
            write_image(target.with_name(f"{target.stem}_scale{scale + 1}_iter{iteration:04d}{target.suffix}"),
                        image, overwrite=True)

        result = stylizer(content, size=size, scales=scales, iterations=iterations, optimizer=optimizer,
                          learning_rate=learning_rate, init=init, seed=seed, save_every=save_every,
                          on_save=save_intermediate)
        write_image(target, result.image, overwrite=overwrite)
        final = result.scales[-1]
        return {"output": target, "precision": stylizer.precision, "width": final.width, "height": final.height,
                "iterations": sum(s.iterations for s in result.scales),
                "seconds": round(result.seconds, 2), "loss": final.loss,
                "content_loss": final.content_loss, "style_loss": final.style_loss,
                "tv_loss": final.tv_loss, "scales": [dataclasses.asdict(s) for s in result.scales]}

    return run_batch(contents, work, as_json=as_json, continue_on_error=continue_on_error,
                     describe=_describe)


def _describe(record: dict) -> str:
    return (f"{record['input']} -> {record['output']} ({record['width']}x{record['height']}, "
            f"{record['iterations']} iterations in {record['seconds']:.1f} s, loss {record['loss']:.4g})")
