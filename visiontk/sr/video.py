"""Upscaling video clips with EDSR, frame by frame (each frame tiled like a photo), keeping the
clip's timing, rotation and sound (see visiontk.videoio)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from visiontk.imageio import resize
from visiontk.sr.upscale import Upscaler, output_size
from visiontk.videoio import probe, transform_video


def upscale_video(source: str | Path, output: str | Path, upscaler: Upscaler, *, crf: int | None = None,
                  overwrite: bool = False, outscale: float | None = None, width: int | None = None,
                  height: int | None = None) -> dict:
    """Upscale every frame of the clip `source` into the clip `output` (written atomically): by the
    model's scale, or to `outscale` times its size, or to `width` and/or `height` as a player shows the
    clip (aspect kept), with an antialiased downsize of the model's output as for photos."""
    info = probe(source)
    # Frames are upscaled as stored; a player turns them, so a rotated clip's width is its stored height.
    turned = info.rotation % 180 != 0
    stored_width, stored_height = (height, width) if turned else (width, height)
    size = output_size(info.width, info.height, upscaler.scale, outscale, stored_width, stored_height)
    resized = size != (info.width * upscaler.scale, info.height * upscaler.scale)

    def upscale_frames(frames):
        results = []
        for frame in frames:
            out = upscaler.upscale_float(frame, show_progress=False)
            if resized:
                out = resize(out, size, Image.LANCZOS)
            results.append(np.clip(np.round(out), 0, 255).astype(np.uint8))
        return results

    record = transform_video(source, output, upscale_frames, crf=crf, overwrite=overwrite, desc="frames")
    return {**record, "scale": upscaler.scale, "precision": upscaler.precision,
            "tiles": upscaler.tile_count(info.height, info.width)}
