"""How low-resolution images are made from high-resolution ones: the one function used by training,
evaluation and the bicubic baseline, so that all three agree."""
from __future__ import annotations

import numpy as np
from PIL import Image


def crop_to_multiple(hr: np.ndarray, scale: int) -> np.ndarray:
    """Crop the bottom/right so that both sides are multiples of `scale`."""
    h, w = hr.shape[0] - hr.shape[0] % scale, hr.shape[1] - hr.shape[1] % scale
    return hr[:h, :w]


def bicubic_resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """PIL bicubic resize of a uint8 (H, W, C) or (H, W) array to (width, height) = `size`."""
    squeeze = image.ndim == 3 and image.shape[2] == 1
    pil = Image.fromarray(image[..., 0] if squeeze else image)
    out = np.asarray(pil.resize(size, Image.BICUBIC))
    return out[..., None] if squeeze else out


def downscale(hr: np.ndarray, scale: int) -> np.ndarray:
    """LR = PIL-bicubic downscaling of `hr` (cropped to a multiple of `scale`) by `scale`."""
    hr = crop_to_multiple(hr, scale)
    return bicubic_resize(hr, (hr.shape[1] // scale, hr.shape[0] // scale))


def bicubic_upscale(lr: np.ndarray, scale: int) -> np.ndarray:
    """The baseline: PIL-bicubic upscaling by `scale`."""
    return bicubic_resize(lr, (lr.shape[1] * scale, lr.shape[0] * scale))
