"""A side-by-side picture: bicubic | EDSR | original on a crop of an HR image, with PSNR labels."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from PIL import Image, ImageDraw, ImageFont

from visiontk.imageio import read_image, write_image
from visiontk.errors import UsageError
from visiontk.sr.degrade import (TEST_DEGRADATIONS, bicubic_upscale, check_scorable, crop_to_multiple,
                                 downscale)
from visiontk.sr.metrics import y_psnr_ssim


def side_by_side(hr_path: str | Path, output: str | Path, scale: int = 4,
                 model: str | Path | None | Sequence[str | Path | None] = None,
                 crop: tuple[int, int, int] | None = None, zoom: int = 2, overwrite: bool = False,
                 degradation: str | None = None, self_ensemble: bool = False) -> dict:
    """Downscale the HR image by `scale` (then degrade it, e.g. "jpeg40"), upscale it with bicubic and
    with each model (`self_ensemble`: see `Upscaler`), and write the crops (x, y, size in HR pixels;
    default: the centre third) enlarged `zoom` times side by side: bicubic | model... | original."""
    from visiontk.sr.upscale import Upscaler, default_model

    models = list(model) if isinstance(model, (list, tuple)) else [model]
    hr = crop_to_multiple(read_image(hr_path), scale)
    check_scorable(hr, scale, str(hr_path))
    height, width = hr.shape[:2]
    x, y, size = crop or (width // 3, height // 3, min(width, height) // 3)
    if size < 1 or x < 0 or y < 0 or x + size > width or y + size > height:
        raise UsageError(f"`crop` {x} {y} {size} is not inside {hr_path} ({width}x{height} after cropping "
                         f"to a multiple of {scale}): X and Y >= 0, SIZE >= 1, X+SIZE <= {width}, "
                         f"Y+SIZE <= {height}")
    if degradation is not None and degradation not in TEST_DEGRADATIONS:
        raise UsageError(f"unknown degradation {degradation!r} (one of {', '.join(TEST_DEGRADATIONS)})")
    lr = downscale(hr, scale)
    if degradation is not None:
        lr = TEST_DEGRADATIONS[degradation](lr)
    names = [str(m or default_model(scale)) for m in models]
    names = [Path(n).name[:-len(".weights.h5")] if n.endswith(".weights.h5") else n for n in names]
    panels = [bicubic_upscale(lr, scale)]
    for name in models:  # float32: the scores of `sr eval`
        upscaler = Upscaler(scale, name, precision="float32", self_ensemble=self_ensemble)
        panels.append(upscaler.upscale_rgb(lr, show_progress=False))
    scores = [y_psnr_ssim(image, hr, scale)[0] for image in panels]
    tiles = [Image.fromarray(image[y:y + size, x:x + size]).resize((size * zoom, size * zoom), Image.NEAREST)
             for image in panels + [hr]]
    label = "EDSR" if len(models) == 1 and models[0] is None else None
    labels = ([f"bicubic x{scale}  {scores[0]:.2f} dB"]
              + [f"{label or name} x{scale}  {score:.2f} dB" for name, score in zip(names, scores[1:])]
              + ["original"])
    write_image(output, _sheet(tiles, labels), overwrite=overwrite)
    return {"output": str(output), "crop": [x, y, size], "degradation": degradation,
            "self_ensemble": self_ensemble,
            "bicubic_psnr": scores[0], "psnr": scores[1],
            "models": [{"model": name, "psnr": score} for name, score in zip(names, scores[1:])]}


def _sheet(tiles: list[Image.Image], labels: list[str], gap: int = 6, label_height: int = 26) -> Image.Image:
    side = tiles[0].size[0]
    sheet = Image.new("RGB", (len(tiles) * side + (len(tiles) - 1) * gap, side + label_height), "white")
    draw = ImageDraw.Draw(sheet)
    try:
        font = ImageFont.truetype("DejaVuSans.ttf", 16)
    except OSError:
        font = ImageFont.load_default()
    for i, (tile, label) in enumerate(zip(tiles, labels)):
        left = i * (side + gap)
        sheet.paste(tile, (left, label_height))
        draw.text((left + 4, 4), label, fill="black", font=font)
    return sheet
