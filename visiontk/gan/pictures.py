"""Pictures people look at: sample sheets (image grids) and the loss curve, drawn with PIL."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from visiontk.charts import grid
from visiontk.imageio import write_image


def to_uint8(images) -> np.ndarray:
    """Generator output in [-1, 1] -> uint8 in [0, 255]."""
    return np.clip(np.round((np.asarray(images, dtype=np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def sheet_pictures(images: np.ndarray) -> tuple[Image.Image, Image.Image | None]:
    """A uint8 image or sheet with 1, 3 or 4 channels -> (picture, mask picture or None).
    The 4th channel of an RGB+mask image becomes a separate grayscale picture."""
    channels = images.shape[-1]
    if channels == 1:
        return Image.fromarray(images[..., 0], "L"), None
    mask = Image.fromarray(np.ascontiguousarray(images[..., 3]), "L") if channels == 4 else None
    return Image.fromarray(np.ascontiguousarray(images[..., :3]), "RGB"), mask


def write_sheet(path: str | Path, images: np.ndarray, *, columns: int | None = None, overwrite: bool = False,
                scale: int = 1) -> list[Path]:
    """Write uint8 images as one sheet; a mask channel goes to a `-mask` file beside it."""
    picture, mask = sheet_pictures(grid(images, columns, scale=scale))
    return write_picture(path, picture, mask, overwrite=overwrite)


def write_picture(path: str | Path, picture: Image.Image, mask: Image.Image | None, *,
                  overwrite: bool = False) -> list[Path]:
    path = Path(path)
    written = [write_image(path, picture, overwrite=overwrite)]
    if mask is not None:
        written.append(write_image(mask_path(path), mask, overwrite=overwrite))
    return written


def mask_path(path: Path) -> Path:
    return path.with_name(f"{path.stem}-mask{path.suffix}")


# ---- loss curve ---------------------------------------------------------------------------------------

CURVE_COLOURS = {"d_loss": (31, 119, 180), "g_loss": (255, 127, 14)}


def loss_curve(steps: list[int], series: dict[str, list[float]], epoch_steps: list[int], *,
               size: tuple[int, int] = (800, 400), title: str = "DCGAN losses") -> Image.Image:
    """A simple line chart: one line per series against the training step, epochs marked below."""
    width, height = size
    left, right, top, bottom = 60, 20, 30, 40
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    values = [v for vs in series.values() for v in vs if math.isfinite(v)]
    if not steps or not values:
        draw.text((left, top), "no losses yet", fill="black", font=font)
        return image
    low, high = min(0.0, min(values)), max(values) * 1.05 or 1.0
    first, last = steps[0], max(steps[-1], steps[0] + 1)

    def xy(step: float, value: float) -> tuple[float, float]:
        x = left + (step - first) / (last - first) * (width - left - right)
        y = top + (high - value) / (high - low) * (height - top - bottom)
        return x, y

    draw.rectangle([left, top, width - right, height - bottom], outline="black")
    for tick in np.linspace(low, high, 5):
        _, y = xy(first, tick)
        draw.line([left - 4, y, left, y], fill="black")
        draw.text((4, y - 6), f"{tick:.2f}", fill="black", font=font)
    label_every = max(1, math.ceil(len(epoch_steps) / 10))
    for epoch, step in enumerate(epoch_steps, 1):
        x, _ = xy(step, low)
        draw.line([x, top, x, height - bottom], fill=(225, 225, 225))
        if epoch % label_every == 0 or epoch == len(epoch_steps):
            draw.text((x - 6, height - bottom + 4), str(epoch), fill="black", font=font)
    draw.text((width // 2 - 16, height - 16), "epoch", fill="black", font=font)
    for index, (name, vals) in enumerate(series.items()):
        colour = CURVE_COLOURS.get(name, (80, 160, 80))
        points = [xy(s, v) for s, v in zip(steps, vals) if math.isfinite(v)]
        if len(points) > 1:
            draw.line(points, fill=colour, width=1)
        draw.line([left + 10 + 120 * index, 15, left + 30 + 120 * index, 15], fill=colour, width=3)
        draw.text((left + 35 + 120 * index, 9), name, fill="black", font=font)
    draw.text((width - right - 8 * len(title), 9), title, fill="black", font=font)
    return image
