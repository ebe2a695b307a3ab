"""One input file to one output file: a photo or a video clip painted by a `Stylizer` (optimisation) or a
`FastStylizer` (a trained network); each verb returns the record that `visiontk stylize --json` prints."""
from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Sequence

from visiontk.imageio import write_image
from visiontk.style.model import DEFAULT_SIZE as NETWORK_SIZE, FastStylizer
from visiontk.style.transfer import DEFAULT_SCALES, DEFAULT_SIZE, Stylizer
from visiontk.videoio import is_video

PathLike = str | os.PathLike


def stylize_file(stylizer: Stylizer, source: PathLike, output: PathLike, *, size: int = DEFAULT_SIZE,
                 scales: int = DEFAULT_SCALES, iterations: Sequence[int] | int | None = None,
                 optimizer: str = "lbfgs", learning_rate: float | None = None, init: str = "content",
                 seed: int | None = None, save_every: int = 0, consistency: bool = True,
                 crf: int | None = None, overwrite: bool = False) -> dict:
    """Paint the photo or clip `source` by optimisation into `output`. A clip is painted frame by frame,
    each frame's optimisation starting from the previous painted frame warped by optical flow
    (`consistency`); `save_every` N also writes a photo's intermediate images as OUT_scaleS_iterN.EXT."""
    options = dict(size=size, scales=scales, iterations=iterations, optimizer=optimizer,
                   learning_rate=learning_rate, seed=seed)
    if is_video(source):
        from visiontk.style.temporal import stylize_video

        def paint(frame, start):
            return stylizer(frame, init=init if start is None else start, **options).image

        return stylize_video(source, output, paint, consistent=consistency, crf=crf, overwrite=overwrite,
                             warm_start=True)
    output = Path(output)

    def save_intermediate(image, scale: int, iteration: int) -> None:
        write_image(output.with_name(f"{output.stem}_scale{scale + 1}_iter{iteration:04d}{output.suffix}"),
                    image, overwrite=True)

    result = stylizer(source, init=init, save_every=save_every, on_save=save_intermediate, **options)
    write_image(output, result.image, overwrite=overwrite)
    final = result.scales[-1]
    return {"output": output, "precision": stylizer.precision, "width": final.width, "height": final.height,
            "iterations": sum(s.iterations for s in result.scales), "seconds": round(result.seconds, 2),
            "loss": final.loss, "content_loss": final.content_loss, "style_loss": final.style_loss,
            "tv_loss": final.tv_loss, "scales": [dataclasses.asdict(s) for s in result.scales]}


def paint_file(stylizer: FastStylizer, source: PathLike, output: PathLike, *, size: int | None = None,
               preserve_color: bool = False, strength: float = 1.0, consistency: bool = True,
               crf: int | None = None, overwrite: bool = False) -> dict:
    """Paint the photo or clip `source` with a trained network into `output`. `size` is the result's long
    side; None keeps a clip's frame size and paints a photo at the networks' usual 512 px."""
    def paint(frame):
        return stylizer(frame, size=size, preserve_color=preserve_color, strength=strength)

    if is_video(source):
        from visiontk.style.temporal import stylize_video

        return {"model": stylizer.name, **stylize_video(source, output, paint, consistent=consistency, crf=crf,
                                                          overwrite=overwrite)}
    started = time.perf_counter()
    image = stylizer(source, size=size or NETWORK_SIZE, preserve_color=preserve_color, strength=strength)
    seconds = time.perf_counter() - started
    write_image(output, image, overwrite=overwrite)
    return {"output": Path(output), "model": stylizer.name, "precision": stylizer.precision,
            "strength": strength, "width": image.shape[1], "height": image.shape[0], "seconds": round(seconds, 3)}
