"""Reading and writing images: the one image I/O layer every task uses.

Images come back as uint8 RGB arrays (H, W, 3) with EXIF orientation applied. What the file had beyond
RGB (an alpha channel, the fact that it was grayscale) is kept aside in `Picture` so that a task can
restore it when it writes its result. Outputs are written to a temporary file in the target folder and
renamed into place, so a reader never sees half a file and a failure never clobbers an existing one.
"""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from visiontk.errors import BadInputError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif")
WRITE_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".bmp": "BMP", ".tif": "TIFF",
                 ".tiff": "TIFF", ".webp": "WEBP"}
DEFAULT_MAX_PIXELS = 100_000_000

# We enforce our own pixel limit before decoding; PIL's own check would only warn below twice its limit.
Image.MAX_IMAGE_PIXELS = None


def max_pixels() -> int:
    """The largest image (width × height) we agree to decode; VISIONTK_MAX_PIXELS overrides it."""
    return int(os.environ.get("VISIONTK_MAX_PIXELS", DEFAULT_MAX_PIXELS))


@dataclass
class Picture:
    """An image as read from disk: RGB pixels plus what is needed to write a result back alike."""

    rgb: np.ndarray                  # (H, W, 3) uint8
    alpha: np.ndarray | None = None  # (H, W) uint8, if the file had transparency
    grayscale: bool = False          # the file had one colour channel
    path: Path | None = None

    @property
    def size(self) -> tuple[int, int]:
        """(width, height), as PIL counts."""
        return self.rgb.shape[1], self.rgb.shape[0]


def read_picture(path: str | os.PathLike) -> Picture:
    """Read an image file, keeping its alpha channel and grayscale-ness aside.

    Raises BadInputError naming the file for anything that isn't a readable image of sane size.
    """
    path = Path(path)
    if not path.exists():
        raise BadInputError(f"{path}: no such file")
    if path.is_dir():
        raise BadInputError(f"{path}: is a directory with no images in it, expected an image file")
    try:
        with Image.open(path) as im:
            _check_pixel_count(path, im.size)
            im.seek(0)  # first frame of an animated image
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                im = ImageOps.exif_transpose(im)
                im.load()
            return _to_picture(im, path)
    except BadInputError:
        raise
    except UnidentifiedImageError:
        raise BadInputError(f"{path}: not an image file visiontk can read "
                            f"(supported: {', '.join(IMAGE_EXTENSIONS)})") from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise BadInputError(f"{path}: corrupt or truncated image ({exc})") from None


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as a (H, W, 3) uint8 RGB array (alpha dropped, gray expanded)."""
    return read_picture(path).rgb


def _check_pixel_count(path: Path, size: tuple[int, int]) -> None:
    width, height = size
    limit = max_pixels()
    if width * height > limit:
        raise BadInputError(f"{path}: image is {width}x{height} pixels, over the limit of {limit} "
                            "(a possible decompression bomb; raise VISIONTK_MAX_PIXELS if it is genuine)")
    if width < 1 or height < 1:
        raise BadInputError(f"{path}: image has no pixels")


def _to_picture(im: Image.Image, path: Path | None) -> Picture:
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit (or 32-bit int) gray: scale the full range down to 8 bits.
        wide = np.asarray(im, dtype=np.float64)
        top = 65535.0 if wide.max() > 255 else 255.0
        gray = np.clip(np.round(wide / top * 255.0), 0, 255).astype(np.uint8)
        return Picture(np.repeat(gray[..., None], 3, axis=2), None, True, path)
    if mode == "F":
        gray = np.clip(np.round(np.asarray(im) * 255.0), 0, 255).astype(np.uint8)
        return Picture(np.repeat(gray[..., None], 3, axis=2), None, True, path)
    has_alpha = mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in im.info)
    grayscale = mode in ("1", "L", "LA") or (mode == "P" and _palette_is_gray(im))
    rgba = im.convert("RGBA") if has_alpha else None
    rgb = np.asarray((rgba or im).convert("RGB"), dtype=np.uint8)
    alpha = np.asarray(rgba, dtype=np.uint8)[..., 3].copy() if rgba is not None else None
    return Picture(np.ascontiguousarray(rgb), alpha, grayscale, path)


def _palette_is_gray(im: Image.Image) -> bool:
    palette = np.asarray(im.getpalette() or [], dtype=np.int32).reshape(-1, 3)
    return bool(len(palette)) and bool(np.all(palette[:, 0] == palette[:, 1]) and
                                       np.all(palette[:, 1] == palette[:, 2]))


def to_pil(rgb: np.ndarray, alpha: np.ndarray | None = None, grayscale: bool = False) -> Image.Image:
    """Build a PIL image from a uint8 (or [0, 255] float) RGB array and optional alpha."""
    rgb = np.clip(np.round(rgb), 0, 255).astype(np.uint8) if rgb.dtype != np.uint8 else rgb
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[..., None], 3, axis=2)
    if grayscale:
        gray = Image.fromarray(rgb).convert("L")
        if alpha is None:
            return gray
        return Image.merge("LA", (gray, Image.fromarray(alpha)))
    image = Image.fromarray(rgb[..., :3], "RGB")
    if alpha is not None:
        image.putalpha(Image.fromarray(alpha))
    return image


def output_format(path: str | os.PathLike) -> str:
    """The PIL format name for an output path's extension, or BadInputError for one we can't write."""
    suffix = Path(path).suffix.lower()
    if suffix not in WRITE_FORMATS:
        raise BadInputError(f"{path}: can't tell the output format from the extension "
                            f"(use one of {', '.join(sorted(WRITE_FORMATS))})")
    return WRITE_FORMATS[suffix]


def check_output(path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Fail early, before any work, if `path` exists and may not be overwritten."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise BadInputError(f"{path}: output exists (use --overwrite to replace it, "
                            "or --skip-existing to leave it)")
    if path.is_dir():
        raise BadInputError(f"{path}: output is a directory")
    return path


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success rename it onto `path`, on failure delete it."""
    path = check_output(path, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part" + path.suffix,
                                    dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if path.exists() and not overwrite:  # appeared while we worked
            raise BadInputError(f"{path}: output appeared while working; not overwritten")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_image(path: str | os.PathLike, image: np.ndarray | Image.Image | Picture, *,
                overwrite: bool = False, quality: int = 95) -> Path:
    """Write an image atomically; the format follows the extension. JPEG drops alpha."""
    fmt = output_format(path)
    if isinstance(image, Picture):
        image = to_pil(image.rgb, image.alpha, image.grayscale)
    elif isinstance(image, np.ndarray):
        image = to_pil(image)
    if fmt == "JPEG" and image.mode not in ("RGB", "L"):
        image = image.convert("L" if image.mode in ("LA", "L") else "RGB")
    options = {"quality": quality} if fmt in ("JPEG", "WEBP") else {}
    with atomic_output(path, overwrite) as tmp:
        image.save(tmp, format=fmt, **options)
    return Path(path)


def is_image_path(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def expand_inputs(inputs: Iterable[str | os.PathLike], stdin=None) -> list[Path]:
    """Turn command-line inputs into a list of files.

    `-` reads one path per line from stdin. Folders are searched recursively for images (sorted,
    hidden files skipped). Files, and folders without images, are kept as given, even if missing, so
    that the batch reports them.
    """
    paths: list[Path] = []
    for item in _with_stdin(inputs, stdin):
        found = _images_in(item) if item.is_dir() else []
        paths.extend(found or [item])
    return paths


def _with_stdin(inputs: Iterable[str | os.PathLike], stdin) -> Iterator[Path]:
    for item in inputs:
        if str(item) == "-":
            stream = stdin or sys.stdin
            yield from (Path(line.rstrip("\r\n")) for line in stream if line.strip())
        else:
            yield Path(item)


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and is_image_path(p)
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def resize_long_side(rgb: np.ndarray, long_side: int, resample=Image.BICUBIC) -> np.ndarray:
    """Resize so that the longer side is `long_side` pixels, keeping the aspect ratio."""
    height, width = rgb.shape[:2]
    scale = long_side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(rgb).resize(size, resample))
