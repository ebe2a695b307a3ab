"""Upscaling video clips with EDSR, frame by frame (each frame tiled like a photo), keeping the
clip's timing, rotation and sound (see visiontk.videoio)."""
from __future__ import annotations

from pathlib import Path

from visiontk.sr import tiling
from visiontk.sr.upscale import Upscaler
from visiontk.videoio import probe, transform_video


def upscale_video(source: str | Path, output: str | Path, upscaler: Upscaler, *, crf: int | None = None,
                  overwrite: bool = False) -> dict:
    """Upscale every frame of the clip `source` into the clip `output` (written atomically)."""
    info = probe(source)

    def upscale_frames(frames):
        return [upscaler.upscale_rgb(frame, show_progress=False) for frame in frames]

    record = transform_video(source, output, upscale_frames, crf=crf, overwrite=overwrite,
                             desc="frames")
    return {**record, "scale": upscaler.scale,
            "tiles": tiling.count_tiles(info.height, info.width, upscaler.tile)}
