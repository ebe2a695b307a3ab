"""Upscaling images with EDSR: model resolution, tiled prediction, alpha and grayscale handling."""
from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

import numpy as np

from visiontk.errors import WeightsError
from visiontk.imageio import Picture, check_output, read_picture, write_image
from visiontk.runtime import progress, tensorflow
from visiontk.sr import tiling
from visiontk.sr.degrade import bicubic_resize

log = logging.getLogger("visiontk.sr")

DEFAULT_SCALE = 4


def default_model(scale: int) -> str:
    """The registry name of the shipped EDSR-baseline for `scale`."""
    return f"edsr-x{scale}"


def weights_path(model: str | Path | None, scale: int) -> Path:
    """A weights file for `model`: a registry name (default: the shipped model for `scale`) or a path."""
    from visiontk import weights

    model = model or default_model(scale)
    candidate = Path(model)
    if candidate.suffix == ".h5" or candidate.is_file():
        if not candidate.is_file():
            raise WeightsError(f"{candidate}: no such weights file")
        return candidate
    return weights.resolve(str(model))


@lru_cache(maxsize=4)
def _load(path: Path, mtime: float, scale: int):
    from visiontk.sr.weights import load_edsr

    tf = tensorflow()
    model = load_edsr(path, scale)
    predict = tf.function(lambda x: model(x, training=False),
                          input_signature=[tf.TensorSpec([1, None, None, 3], tf.float32)])
    return model, predict


def load_model(model: str | Path | None, scale: int):
    """(keras model, compiled predict function) for `model` at `scale`; WeightsError if it doesn't fit."""
    path = weights_path(model, scale)
    return _load(path.resolve(), path.stat().st_mtime, scale)


def resolve_scale(scale: int | None, model: str | Path | None) -> int:
    """The scale asked for; else that of the `--model` weights file; else 4."""
    if scale is not None:
        return scale
    if model is not None and Path(model).is_file():
        from visiontk.sr.weights import weights_scale

        return weights_scale(Path(model))
    return DEFAULT_SCALE


class Upscaler:
    """EDSR at one scale, upscaling arrays tile by tile."""

    def __init__(self, scale: int = DEFAULT_SCALE, model: str | Path | None = None, tile: int | None = None,
                 overlap: int = tiling.DEFAULT_OVERLAP):
        if scale not in (2, 3, 4):
            raise WeightsError(f"scale must be 2, 3 or 4, not {scale}")
        self.scale, self.overlap = scale, overlap
        self.tile = tile or tiling.auto_tile(scale, overlap)
        self.keras_model, self._predict = load_model(model, scale)

    def predict(self, lr: np.ndarray) -> np.ndarray:
        """One (h, w, 3) float tile -> (h*scale, w*scale, 3) float, untiled."""
        return self._predict(lr[None].astype(np.float32))[0].numpy()

    def upscale_rgb(self, rgb: np.ndarray, show_progress: bool = True) -> np.ndarray:
        """(H, W, 3) uint8 -> (H*scale, W*scale, 3) uint8."""
        height, width = rgb.shape[:2]
        count = tiling.count_tiles(height, width, self.tile)
        with progress(total=count, desc="tiles", unit="tile", disable=None if show_progress and count > 1
                      else True) as bar:
            out = tiling.upscale_tiled(rgb.astype(np.float32), self.predict, self.scale, self.tile,
                                       self.overlap, on_tile=lambda: bar.update(1))
        np.round(out, out=out)
        return np.clip(out, 0, 255, out=out).astype(np.uint8)

    def upscale_picture(self, picture: Picture) -> Picture:
        """Colour through EDSR, alpha by bicubic; a grayscale picture stays grayscale."""
        rgb = self.upscale_rgb(picture.rgb)
        alpha = None
        if picture.alpha is not None:
            alpha = bicubic_resize(picture.alpha, (rgb.shape[1], rgb.shape[0]))
        return Picture(rgb, alpha, picture.grayscale, picture.path)


def upscale(source: str | Path, output: str | Path, scale: int = DEFAULT_SCALE, *,
            model: str | Path | None = None, tile: int | None = None, overlap: int = tiling.DEFAULT_OVERLAP,
            overwrite: bool = False, upscaler: Upscaler | None = None) -> dict:
    """Upscale the image file `source` by `scale` into `output` (written atomically)."""
    check_output(output, overwrite)
    upscaler = upscaler or Upscaler(scale, model, tile, overlap)
    picture = read_picture(source)
    result = upscaler.upscale_picture(picture)
    write_image(output, result, overwrite=overwrite)
    width, height = picture.size
    return {"output": str(output), "scale": upscaler.scale, "size": [width, height],
            "output_size": [width * upscaler.scale, height * upscaler.scale],
            "tiles": tiling.count_tiles(height, width, upscaler.tile)}
