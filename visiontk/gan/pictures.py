"""Sample sheets: generated images as image grids, a mask channel as a separate picture beside them."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

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
