"""Texture synthesis (Gatys, Ecker & Bethge 2015): an image whose VGG Gram matrices match a source
texture's, optimised from noise with the optimiser and losses of `stylize`, without a content term."""
from __future__ import annotations

import os

import numpy as np

from visiontk.errors import BadInputError
from visiontk.style.transfer import (DEFAULT_BACKBONE, DEFAULT_SCALES, DEFAULT_STYLE_LAYERS, DEFAULT_TV_WEIGHT,
                                     MIN_WORKING_SIDE, StyleResult, Stylizer)

DEFAULT_TEXTURE_SIZE = 512
# With no content term the style weight only sets the balance against smoothness: stylize's 1e-3
# against its TV weight 1e-2 leaves the texture's fine grain intact.
TEXTURE_STYLE_WEIGHT = 1e-3


def synthesize(source: np.ndarray | str | os.PathLike, size: int = DEFAULT_TEXTURE_SIZE, *,
               tileable: bool = False, scales: int = DEFAULT_SCALES, iterations=None, seed: int | None = None,
               backbone: str = DEFAULT_BACKBONE, style_layers=DEFAULT_STYLE_LAYERS,
               tv_weight: float = DEFAULT_TV_WEIGHT, style_scale: float = 1.0,
               precision: str = "auto") -> StyleResult:
    """A `size` x `size` texture like `source` (a path or an RGB array), from noise; `tileable` makes
    its opposite edges continue each other so copies tile seamlessly. The source is scaled to the
    result's side times `style_scale` (above 1: a finer texture)."""
    if size < MIN_WORKING_SIDE:
        raise BadInputError(f"`size` must be at least {MIN_WORKING_SIDE} pixels, got {size}")
    stylizer = Stylizer(source, backbone=backbone, style_layers=style_layers, content_weight=0.0,
                        style_weight=TEXTURE_STYLE_WEIGHT, tv_weight=tv_weight, style_scale=style_scale,
                        precision=precision, tileable=tileable)
    frame = np.full((size, size, 3), 128, np.uint8)   # only its size matters: no content term
    return stylizer(frame, size=size, scales=scales, iterations=iterations, init="noise", seed=seed)


def gram_distance(image: np.ndarray, source: np.ndarray | str | os.PathLike, *,
                  backbone: str = DEFAULT_BACKBONE) -> float:
    """The style term of `stylize`'s objective between `image` and `source` (scaled to the image's long
    side): how far apart their textures are; 0 for identical statistics."""
    stylizer = Stylizer(source, backbone=backbone, content_weight=0.0, style_weight=1.0, tv_weight=0.0,
                        precision="float32")
    return stylizer.measure(image, image)["style_loss"]
