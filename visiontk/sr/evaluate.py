"""The standard evaluation: HR cropped to a multiple of the scale, LR by bicubic downscaling, PSNR and
SSIM on BT.601 Y with `scale` border pixels removed; bicubic upscaling alongside as the baseline."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from visiontk.imageio import expand_inputs, read_image
from visiontk.errors import BadInputError
from visiontk.runtime import progress
from visiontk.sr.degrade import (TEST_DEGRADATIONS, bicubic_upscale, check_scorable, crop_to_multiple,
                                 downscale)
from visiontk.sr.metrics import y_psnr_ssim

METRICS = ("psnr", "ssim", "perceptual")   # psnr and ssim are always measured (they cost nothing)


def evaluate(hr_inputs: str | Path | Iterable[str | Path], scale: int, model: str | Path | None = None,
             bicubic_only: bool = False, tile: int | None = None, degradation: str | None = None,
             precision: str = "float32", metrics: Sequence[str] = ("psnr", "ssim"),
             self_ensemble: bool = False) -> dict:
    """Score EDSR (registry name or weights path; default the shipped model) and bicubic on HR images.

    `degradation` (a name in `TEST_DEGRADATIONS`, e.g. "jpeg40") is applied to the bicubic LR first, to
    score on "real" inputs; the HR target stays the clean image. `precision` defaults to float32, the
    precision of the published scores. `metrics` naming "perceptual" adds the VGG16 feature distance
    (visiontk.sr.metrics.PerceptualDistance, on RGB with the same border removed; lower is better).
    `self_ensemble` averages the model's outputs over the input's flips (see `Upscaler`).

    Returns {"scale", "model", "images": [{"image", "psnr", "ssim", "bicubic_psnr", "bicubic_ssim"} and
    "perceptual", "bicubic_perceptual" if asked], "mean": {...the same keys averaged}}.
    """
    from visiontk.sr.upscale import Upscaler, default_model

    if isinstance(hr_inputs, (str, Path)):
        hr_inputs = [hr_inputs]
    paths = expand_inputs([str(p) for p in hr_inputs])
    if not paths:
        raise BadInputError(f"{' '.join(map(str, hr_inputs))}: no images to evaluate")
    if degradation is not None and degradation not in TEST_DEGRADATIONS:
        raise BadInputError(f"unknown input degradation {degradation!r} "
                            f"(one of {', '.join(TEST_DEGRADATIONS)})")
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise BadInputError(f"unknown metric {', '.join(unknown)} (use {', '.join(METRICS)})")
    perceptual = None
    if "perceptual" in metrics:
        from visiontk.sr.metrics import PerceptualDistance

        perceptual = PerceptualDistance()
    upscaler = None if bicubic_only else Upscaler(scale, model, tile, precision=precision,
                                                  self_ensemble=self_ensemble)
    rows = []
    for path in progress(paths, desc=f"eval x{scale}", unit="img"):
        hr = crop_to_multiple(read_image(path), scale)
        check_scorable(hr, scale, str(path))
        lr = downscale(hr, scale)
        if degradation is not None:
            lr = TEST_DEGRADATIONS[degradation](lr)
        row = {"image": path.name}
        outputs = {"bicubic_": bicubic_upscale(lr, scale)}
        if upscaler is not None:
            outputs[""] = upscaler.upscale_rgb(lr, show_progress=False)
        for prefix, image in outputs.items():
            row[prefix + "psnr"], row[prefix + "ssim"] = y_psnr_ssim(image, hr, scale)
            if perceptual is not None:
                row[prefix + "perceptual"] = perceptual(image, hr, scale)
        rows.append(row)
    keys = [k for k in rows[0] if k != "image"]
    mean = {k: float(np.mean([r[k] for r in rows])) for k in keys}
    return {"scale": scale, "model": None if bicubic_only else str(model or default_model(scale)),
            "degradation": degradation, "images": rows, "mean": mean}
