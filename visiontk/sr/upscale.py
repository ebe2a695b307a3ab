"""Upscaling photos and clips with EDSR or WDSR: tiled prediction, output sizes, alpha and grayscale handling."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from visiontk.atomic import check_output
from visiontk.backbones.edsr import SCALES
from visiontk.errors import UsageError, WeightsError
from visiontk.imageio import Picture, output_format, read_picture, resize, write_image
from visiontk.runtime import progress, resolve_precision
from visiontk.sr import tiling
# Model resolution moved to visiontk.sr.model (the task contract); these names stay importable from here.
from visiontk.sr.model import (DEFAULT_SCALE, default_model, load_model, load_predictor,  # noqa: F401
                               resolve_scale, weights_path)
from visiontk.videoio import is_video


def output_size(width: int, height: int, scale: int, outscale: float | None = None,
                out_width: int | None = None, out_height: int | None = None) -> tuple[int, int]:
    """The (width, height) to write: the model's `scale`, or `outscale` times the input, or the
    aspect-keeping size with --width and/or --height (both: the largest that fits in the box).
    UsageError if that needs more than the model's scale or less than the input."""
    if out_width or out_height:
        fx = out_width / width if out_width else None
        fy = out_height / height if out_height else None
        factor = min(fx, fy) if fx and fy else (fx or fy)
        size = (out_width if fx == factor else round(width * factor),
                out_height if fy == factor else round(height * factor))
    elif outscale is not None:
        factor = outscale
        size = (round(width * outscale), round(height * outscale))
    else:
        return width * scale, height * scale
    if factor > scale + 1e-9:
        raise UsageError(f"{width}x{height} -> {size[0]}x{size[1]} is x{factor:.3g}, more than the x{scale} "
                         "model makes: use a model of a larger scale (or upscale twice)")
    if factor < 1:
        raise UsageError(f"{width}x{height} -> {size[0]}x{size[1]} is smaller than the input: "
                         "sr upscale only enlarges")
    return max(1, size[0]), max(1, size[1])


# The input's flips for self-ensembling: none, left-right, up-down, both.
FLIPS = (lambda a: a, lambda a: a[:, ::-1], lambda a: a[::-1], lambda a: a[::-1, ::-1])


class Upscaler:
    """An sr network (EDSR or WDSR) at one scale, upscaling arrays tile by tile, in batches of tiles.

    `precision`: "auto" (bfloat16 where the hardware runs it faster, see runtime.bfloat16_is_fast),
    "float32" or "bfloat16". `tile`: the tile core in LR pixels (default: the largest whose activations
    fit in `memory` bytes: fewer, larger tiles repeat less work in their overlaps). Tiles are batched as
    many as fit in `memory` (one at a time they are exactly the tiles of earlier versions).
    `self_ensemble`: average the outputs for the input and its three flips (EDSR+'s self-ensemble, flips
    only), 4x the work: a little more PSNR, and it weakens the faint 4-px grid of a GAN-trained model.
    """

    def __init__(self, scale: int = DEFAULT_SCALE, model: str | Path | None = None, tile: int | None = None,
                 overlap: int = tiling.DEFAULT_OVERLAP, precision: str = "auto",
                 memory: int = tiling.DEFAULT_MEMORY, self_ensemble: bool = False):
        if scale not in SCALES:
            raise WeightsError(f"`scale` must be 2, 3 or 4, not {scale}")
        self.scale, self.overlap, self.memory, self.self_ensemble = scale, overlap, memory, self_ensemble
        self.precision = resolve_precision(precision)
        self.tile = tile or tiling.auto_tile(scale, overlap, memory, self.precision)
        self.keras_model, self._predict = load_predictor(model, scale, self.precision)

    def tile_count(self, height: int, width: int) -> int:
        """Network passes over tiles for an (height, width) input: 4x as many with `self_ensemble`."""
        return tiling.count_tiles(height, width, self.tile) * (len(FLIPS) if self.self_ensemble else 1)

    def predict(self, lr: np.ndarray) -> np.ndarray:
        """One (h, w, 3) float tile -> (h*scale, w*scale, 3) float, untiled."""
        return self.predict_batch(lr[None])[0]

    def predict_batch(self, lr: np.ndarray) -> np.ndarray:
        """(n, h, w, 3) float tiles -> (n, h*scale, w*scale, 3) float."""
        return self._predict(np.asarray(lr, np.float32)).numpy()

    def upscale_float(self, rgb: np.ndarray, show_progress: bool = True) -> np.ndarray:
        """(H, W, 3) pixels in [0, 255] (any dtype) -> (H*scale, W*scale, 3) float32, unclipped."""
        height, width = rgb.shape[:2]
        flips = FLIPS if self.self_ensemble else FLIPS[:1]
        count = self.tile_count(height, width)
        batch = tiling.auto_batch(height, width, self.tile, self.overlap, self.scale, self.memory,
                                  self.precision)
        rgb = rgb.astype(np.float32)
        total = None
        with progress(total=count, desc="tiles", unit="tile", disable=None if show_progress and count > 1
                      else True) as bar:
            for flip in flips:   # a flip is its own inverse
                out = flip(tiling.upscale_tiled(np.ascontiguousarray(flip(rgb)), self.predict_batch,
                                                self.scale, self.tile, self.overlap,
                                                on_tile=lambda: bar.update(1), batch=batch))
                if total is None:
                    total = out      # the unflipped output: the sum is kept in place, one image in memory
                else:
                    total += out
        if len(flips) > 1:
            total /= len(flips)
        return total

    def upscale_rgb(self, rgb: np.ndarray, show_progress: bool = True) -> np.ndarray:
        """(H, W, 3) uint8 -> (H*scale, W*scale, 3) uint8."""
        out = self.upscale_float(rgb, show_progress)
        np.round(out, out=out)
        return np.clip(out, 0, 255, out=out).astype(np.uint8)

    def upscale_picture(self, picture: Picture, size: tuple[int, int] | None = None) -> Picture:
        """Colour through EDSR, alpha by bicubic; a grayscale picture stays grayscale, a 16-bit one 16-bit
        (the network sees its full precision). `size` (width, height), at most the model's scale: the
        model's output resized down to it with an antialiased filter."""
        width, height = picture.size
        size = size or (width * self.scale, height * self.scale)
        resized = size != (width * self.scale, height * self.scale)
        if picture.deep is not None:
            out = self.upscale_float(picture.deep.astype(np.float32) / 257.0)
        else:
            out = self.upscale_float(picture.rgb)
        if resized:
            out = resize(out, size, Image.LANCZOS)
        rgb = _quantise(out, np.uint8)
        deep = _quantise(out * 257.0, np.uint16) if picture.deep is not None else None
        alpha = deep_alpha = None
        if picture.alpha is not None:
            alpha = resize(picture.alpha, size)
        if picture.deep_alpha is not None:
            deep_alpha = _quantise(resize(picture.deep_alpha.astype(np.float32), size, Image.LANCZOS),
                                   np.uint16)
        return Picture(rgb, alpha, picture.grayscale, picture.path, deep, deep_alpha)


def _quantise(image: np.ndarray, dtype) -> np.ndarray:
    top = np.iinfo(dtype).max
    return np.clip(np.round(image), 0, top).astype(dtype)


def upscale(source: str | Path, output: str | Path, scale: int | None = None, *,
            model: str | Path | None = None, tile: int | None = None, overlap: int = tiling.DEFAULT_OVERLAP,
            precision: str = "auto", outscale: float | None = None, width: int | None = None,
            height: int | None = None, crf: int | None = None, overwrite: bool = False,
            self_ensemble: bool = False) -> dict:
    """Upscale the photo or clip `source` into `output` (written atomically) with the `model` (default: the
    shipped EDSR) of `scale` (default: that of `model`'s weights, else the smallest at or above
    `outscale`, else 4); `self_ensemble`: see `Upscaler`. For many files build one `Upscaler` and call
    `upscale_file` with it."""
    upscaler = Upscaler(resolve_scale(scale, model, outscale), model, tile, overlap, precision,
                        self_ensemble=self_ensemble)
    return upscale_file(upscaler, source, output, outscale=outscale, width=width, height=height, crf=crf,
                        overwrite=overwrite)


def upscale_file(upscaler: Upscaler, source: str | Path, output: str | Path, *, outscale: float | None = None,
                 width: int | None = None, height: int | None = None, crf: int | None = None,
                 overwrite: bool = False) -> dict:
    """Upscale the photo or clip `source` into `output` (written atomically), returning the record
    `sr upscale --json` prints. By the upscaler's scale; or to `outscale` times the input's size, or to
    `width` and/or `height` (aspect kept), with an antialiased downsize of the model's output. A clip is
    upscaled frame by frame, keeping its timing, rotation and sound (`crf`: its quality); a 16-bit
    PNG/TIFF photo stays 16-bit in a PNG/TIFF output."""
    check_output(output, overwrite)
    if is_video(source):
        from visiontk.sr.video import upscale_video

        return upscale_video(source, output, upscaler, crf=crf, overwrite=overwrite, outscale=outscale,
                             width=width, height=height)
    picture = read_picture(source)
    size = output_size(*picture.size, upscaler.scale, outscale, width, height)
    result = upscaler.upscale_picture(picture, size)
    write_image(output, result, overwrite=overwrite)
    bits = 16 if result.deep is not None and output_format(output) in ("PNG", "TIFF") else 8
    return {"output": str(output), **upscale_record(upscaler, picture.size, size, bits)}


def output_suffix(scale: int, outscale: float | None = None, width: int | None = None,
                  height: int | None = None) -> str:
    """What `sr upscale` adds to an input's name for its output: _x4, _x2.5, _3000w, _800wx600h."""
    if outscale is not None:
        return f"_x{outscale:g}"
    if width or height:
        return "_" + "x".join(f"{v}{k}" for k, v in (("w", width), ("h", height)) if v)
    return f"_x{scale}"


def check_outscale(scale: int, outscale: float | None) -> None:
    """Refuse an `outscale` beyond what the model of `scale` makes, before any work."""
    if outscale is not None and outscale > scale:
        raise UsageError(f"`outscale` {outscale:g} is more than the x{scale} model makes")


def upscale_record(upscaler: Upscaler, size: tuple[int, int], output_size: tuple[int, int], bits: int) -> dict:
    """What `sr upscale --json` reports of one image (besides its output file): scale, sizes (width,
    height), bits per sample written, precision and the number of tile passes (4 per tile with
    self-ensemble)."""
    return {"scale": upscaler.scale, "size": list(size), "output_size": list(output_size), "bits": bits,
            "precision": upscaler.precision, "tiles": upscaler.tile_count(size[1], size[0])}
