"""Colour handling for luminance-only transfer (Gatys, Bethge, Hertzmann & Shechtman 2017, "Controlling
Perceptual Factors in Neural Style Transfer", section 5): transfer the style on the luminance channel and
keep the photo's chrominance."""
from __future__ import annotations

import numpy as np

# ITU-R BT.601 full-range (JPEG) RGB <-> YCbCr.
_TO_YCBCR = np.array([[0.299, 0.587, 0.114],
                      [-0.168736, -0.331264, 0.5],
                      [0.5, -0.418688, -0.081312]])
_FROM_YCBCR = np.linalg.inv(_TO_YCBCR)
_CHROMA_OFFSET = np.array([0.0, 128.0, 128.0])


def rgb_to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB in [0, 255] -> float YCbCr in [0, 255]."""
    return rgb.astype(np.float64) @ _TO_YCBCR.T + _CHROMA_OFFSET


def ycbcr_to_rgb(ycbcr: np.ndarray) -> np.ndarray:
    """Float YCbCr -> float RGB clipped to [0, 255]."""
    return np.clip((ycbcr - _CHROMA_OFFSET) @ _FROM_YCBCR.T, 0.0, 255.0)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """The Y channel, (H, W, 1) float."""
    return rgb_to_ycbcr(rgb)[..., :1]


def match_luminance(style_y: np.ndarray, content_y: np.ndarray) -> np.ndarray:
    """Shift and scale the style's luminance to the content's mean and spread (the paper's luminance
    matching), so the result keeps the photo's tonality while taking the painting's texture."""
    spread = style_y.std()
    scale = content_y.std() / spread if spread > 1e-6 else 1.0
    return np.clip((style_y - style_y.mean()) * scale + content_y.mean(), 0.0, 255.0)


def with_chrominance(y: np.ndarray, colour_source: np.ndarray) -> np.ndarray:
    """An RGB image with luminance `y` (H, W, 1) and the chrominance of `colour_source` (H, W, 3 RGB)."""
    ycbcr = rgb_to_ycbcr(colour_source)
    ycbcr[..., :1] = y
    return ycbcr_to_rgb(ycbcr)
