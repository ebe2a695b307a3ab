"""Aligned face chips: a similarity transform from a face's five landmarks onto dlib's mean face."""
from __future__ import annotations

import numpy as np

CHIP_SIZE = 150
CHIP_PADDING = 0.25
# dlib's mean-face positions (unit square) of the eye centres, nose tip and mouth corners, in the
# order of detect.LANDMARK_NAMES ("left" = the image's left).
MEAN_FACE = np.array([
    (0.2254918, 0.2159903),
    (0.7547613, 0.2159903),
    (0.490127, 0.515625),
    (0.254149, 0.780233),
    (0.726104, 0.780233),
])


def chip_landmarks(size: int = CHIP_SIZE, padding: float = CHIP_PADDING) -> np.ndarray:
    """Where the five landmarks land in a chip: (p + padding) / (1 + 2 padding) * size."""
    return (MEAN_FACE + padding) / (1 + 2 * padding) * size


def similarity_transform(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The 2x3 matrix of the rotation + uniform scale + translation that maps `source` points onto
    `target` points with the least squared error (as complex numbers: target ~ a * source + b)."""
    src = source[:, 0] + 1j * source[:, 1]
    dst = target[:, 0] + 1j * target[:, 1]
    src_c, dst_c = src - src.mean(), dst - dst.mean()
    a = np.sum(dst_c * np.conj(src_c)) / np.sum(np.abs(src_c) ** 2)
    b = dst.mean() - a * src.mean()
    return np.array([[a.real, -a.imag, b.real], [a.imag, a.real, b.imag]])


def bilinear_sample(image: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """image sampled at float pixel positions (pixel centres at integers), zero outside."""
    height, width = image.shape[:2]
    padded = np.zeros((height + 2, width + 2) + image.shape[2:], dtype=np.float32)
    padded[1:-1, 1:-1] = image
    # Shift by one for the zero border; clip so that far-outside points read the border's zeros.
    xs = np.clip(xs + 1, 0, width + 1 - 1e-6)
    ys = np.clip(ys + 1, 0, height + 1 - 1e-6)
    x0, y0 = np.floor(xs).astype(int), np.floor(ys).astype(int)
    x1, y1 = np.minimum(x0 + 1, width + 1), np.minimum(y0 + 1, height + 1)
    wx, wy = (xs - x0)[..., None], (ys - y0)[..., None]
    top = padded[y0, x0] * (1 - wx) + padded[y0, x1] * wx
    bottom = padded[y1, x0] * (1 - wx) + padded[y1, x1] * wx
    return (top * (1 - wy) + bottom * wy).astype(np.float32)


def align(image: np.ndarray, landmarks: np.ndarray, size: int = CHIP_SIZE,
          padding: float = CHIP_PADDING) -> np.ndarray:
    """The aligned (size, size, 3) float32 chip (values 0..255) of the face with these (5, 2) landmarks."""
    to_chip = similarity_transform(np.asarray(landmarks, dtype=np.float64), chip_landmarks(size, padding))
    # Sample backwards: each chip pixel reads the image at the inverse-transformed position.
    linear, shift = to_chip[:, :2], to_chip[:, 2]
    inverse = np.linalg.inv(linear)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    chip_points = np.stack([xs.ravel() - shift[0], ys.ravel() - shift[1]])
    image_x, image_y = inverse @ chip_points
    return bilinear_sample(image, image_x.reshape(size, size), image_y.reshape(size, size))


def to_uint8(chip: np.ndarray) -> np.ndarray:
    return np.clip(np.round(chip), 0, 255).astype(np.uint8)
