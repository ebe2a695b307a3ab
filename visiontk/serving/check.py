"""Checking an export against Keras: the check input, the tolerances by quantization, and the timing of a runner."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np

from visiontk.errors import VisiontkError
from visiontk.serving.registry import Exportable
from visiontk.serving.signature import keras_outputs

# How close an export must come to Keras on the check input: pixels within one level of 255 and
# embeddings pointing the same way. Quantized weights are held to what they can do (and say so).
# Dynamic-range quantization also quantizes activations on the fly, so its error depends on the
# network (EDSR: 3 levels, the DCGAN: 40): it is measured and reported, never refused.
IMAGE_TOLERANCE = {"none": 1, "float16": 2}        # uint8 levels
VECTOR_COSINE = {"none": 0.999, "float16": 0.999}
TENSOR_TOLERANCE = {"none": 1e-3, "float16": 1e-2}  # largest absolute difference of raw outputs

CHECK_SIDE = 96   # the check crop of image-to-image networks: small, so exporting stays quick


def compare(exportable: Exportable, run: Callable[[np.ndarray], dict], inputs: np.ndarray,
            quantize: str = "none") -> dict:
    """How far the export's outputs are from Keras's on `inputs` (images: in units of the 0..1 range);
    VisiontkError if beyond the tolerance of its quantization."""
    expected, got = keras_outputs(exportable, inputs), run(inputs)
    # Matched by name; a converter that renamed them keeps their order.
    got = [got[name] for name in expected] if set(got) == set(expected) else list(got.values())
    for name, mine, theirs in zip(expected, expected.values(), got):
        if np.shape(theirs) != mine.shape:
            raise VisiontkError(f"{exportable.name}: export gives {name} of shape {np.shape(theirs)}, "
                                f"Keras {mine.shape}")
    result, ok = _difference(exportable.output, list(expected.values()), got, quantize)
    if not ok:
        raise VisiontkError(f"{exportable.name}: the export differs from Keras beyond tolerance ({result})")
    return result


def _difference(kind: str, expected: list[np.ndarray], got: list, quantize: str) -> tuple[dict, bool]:
    if kind == "tensors":
        diff = max(float(np.abs(np.asarray(b, np.float32) - a).max()) for a, b in zip(expected, got))
        return {"check_max_abs_diff": round(diff, 6)}, diff <= TENSOR_TOLERANCE.get(quantize, np.inf)
    a, b = expected[0], np.asarray(got[0])
    if kind == "image":
        levels = np.abs(b.astype(np.int16) - a.astype(np.int16))
        return ({"check_max_abs_diff": round(int(levels.max()) / 255, 6),
                 "check_mean_abs_diff": round(float(levels.mean()) / 255, 6)},
                int(levels.max()) <= IMAGE_TOLERANCE.get(quantize, 255))
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1).astype(np.float32)
    cosine = float(np.min(np.sum(a * b, 1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))))
    return {"check_cosine": round(cosine, 6)}, cosine >= VECTOR_COSINE.get(quantize, -1.0)


def check_image(path: Path | None, side: int | None = None) -> np.ndarray:
    """A batch of one uint8 RGB image: the centre crop (or resize, `side`) of `path`, or without a path
    a synthetic test card (gradients, edges and noise, so every layer sees varied input)."""
    from PIL import Image

    from visiontk.imageio import read_image

    if path is None:
        y, x = np.mgrid[0:CHECK_SIDE, 0:CHECK_SIDE] / CHECK_SIDE
        noise = np.random.default_rng(0).uniform(0, 60, (CHECK_SIDE, CHECK_SIDE, 3))
        card = np.stack([x * 200, y * 200, ((x > 0.5) ^ (y > 0.5)) * 150], -1) + noise
        rgb = np.clip(card, 0, 255).astype(np.uint8)
    else:
        rgb = read_image(path)
    if side is not None:
        rgb = np.asarray(Image.fromarray(rgb).resize((side, side), Image.BICUBIC))
    else:
        top, left = max(0, (rgb.shape[0] - CHECK_SIDE) // 2), max(0, (rgb.shape[1] - CHECK_SIDE) // 2)
        rgb = rgb[top:top + CHECK_SIDE, left:left + CHECK_SIDE]
    return rgb[None]


def latency(run: Callable[[np.ndarray], np.ndarray], inputs: np.ndarray, repeats: int = 5) -> float:
    """Median seconds per call after one warm-up call."""
    run(inputs)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(inputs)
        times.append(time.perf_counter() - start)
    return float(np.median(times))
