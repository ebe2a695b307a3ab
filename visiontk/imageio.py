"""Reading and writing images: the one image I/O layer every task uses.

Images come back as uint8 RGB arrays (H, W, 3) with EXIF orientation applied. What the file had beyond
RGB (an alpha channel, the fact that it was grayscale) is kept aside in `Picture` so that a task can
restore it when it writes its result. Outputs are written to a temporary file in the target folder and
renamed into place, so a reader never sees half a file and a failure never clobbers an existing one.
"""
from __future__ import annotations

import os
import stat
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# The writing primitives live in visiontk.atomic; check_output and atomic_output are also read from here by
# callers written before it (see visiontk.compat).
from visiontk.atomic import atomic_file, atomic_output, check_output  # noqa: F401
from visiontk.errors import BadInputError, from_os_error

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
    # 16-bit PNG/TIFF: the full-depth pixels, (H, W, 3) and (H, W) uint16 (rgb/alpha hold them in 8 bits).
    # Tasks that can keep the depth use these; write_image writes them back at 16 bits to PNG and TIFF.
    deep: np.ndarray | None = None
    deep_alpha: np.ndarray | None = None

    @property
    def size(self) -> tuple[int, int]:
        """(width, height), as PIL counts."""
        return self.rgb.shape[1], self.rgb.shape[0]


def read_picture(path: str | os.PathLike) -> Picture:
    """Read an image file, keeping its alpha channel and grayscale-ness aside.

    Raises BadInputError naming the file for anything that isn't a readable image of sane size.
    """
    path = Path(path)
    if path.is_dir():
        raise BadInputError(f"{path}: is a directory with no images in it, expected an image file")
    check_input_file(path)
    try:
        with Image.open(path) as im:
            _check_pixel_count(path, im.size)
            sixteen = im.format in ("PNG", "TIFF") and _has_16_bit_samples(im)
            im.seek(0)  # first frame of an animated image
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                im = ImageOps.exif_transpose(im)
                im.load()
            picture = _to_picture(im, path)
        if sixteen:
            _add_16_bit(picture, path)
        return picture
    except BadInputError:
        raise
    except UnidentifiedImageError:
        raise BadInputError(f"{path}: not an image file visiontk can read "
                            f"(supported: {', '.join(IMAGE_EXTENSIONS)})") from None
    except OSError as exc:
        if exc.errno is not None:  # the file system's failure (EACCES, EIO...), not the image's
            raise from_os_error(exc, path) from None
        raise BadInputError(f"{path}: corrupt or truncated image ({exc})") from None
    except (ValueError, SyntaxError, EOFError) as exc:
        raise BadInputError(f"{path}: corrupt or truncated image ({exc})") from None


def check_input_file(path: str | os.PathLike) -> Path:
    """Refuse, before opening it, an input that is missing or not a regular file: reading a FIFO or a
    device would block for ever or never end."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise BadInputError(f"{path}: no such file") from None
    except OSError as exc:
        raise from_os_error(exc, path) from None
    except ValueError:  # a NUL character, which no file name can hold
        raise BadInputError(f"{str(path)!r}: not a valid file name") from None
    if stat.S_ISDIR(mode):
        raise BadInputError(f"{path}: is a folder, expected a file")
    if not stat.S_ISREG(mode):
        raise BadInputError(f"{path}: not a regular file (a pipe, socket or device); give a file")
    return path


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


def _has_16_bit_samples(im: Image.Image) -> bool:
    """Whether the file stores 16 bits per sample. PIL decodes 16-bit colour to 8 bits (its raw mode,
    e.g. "RGB;16B", says what the file holds), so it must be checked before decoding."""
    return im.mode.startswith("I;16") or any(";16" in str(tile.args) for tile in getattr(im, "tile", []))


def _add_16_bit(picture: Picture, path: Path) -> None:
    """Attach the 16-bit samples of a PNG/TIFF, decoded by OpenCV (PIL has no 16-bit colour modes)."""
    import cv2

    pixels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED | cv2.IMREAD_ANYDEPTH)
    if pixels is None or pixels.dtype != np.uint16 or pixels.shape[:2] != picture.rgb.shape[:2]:
        return  # unusual layout (or an EXIF rotation OpenCV ignores): keep the 8-bit picture
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    channels = pixels.shape[2]
    color = pixels[..., :1].repeat(3, axis=2) if channels in (1, 2) else pixels[..., 2::-1]
    picture.deep = np.ascontiguousarray(color)
    if channels in (2, 4) and picture.alpha is not None:
        picture.deep_alpha = np.ascontiguousarray(pixels[..., -1])


def _encode_16_bit(picture: Picture, fmt: str) -> bytes:
    """PNG or TIFF bytes of a Picture's 16-bit samples (gray stays gray, alpha is kept; OpenCV writes no
    gray+alpha, so that one becomes RGBA with equal colour channels)."""
    import cv2

    gray_only = picture.grayscale and picture.deep_alpha is None
    channels = [picture.deep[..., :1]] if gray_only else [picture.deep[..., ::-1]]
    if picture.deep_alpha is not None:
        channels.append(picture.deep_alpha[..., None])
    pixels = np.concatenate(channels, axis=2)
    ok, encoded = cv2.imencode(".png" if fmt == "PNG" else ".tif", pixels)
    if not ok:
        raise BadInputError(f"could not encode a 16-bit {fmt} image")
    return encoded.tobytes()


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


def write_image(path: str | os.PathLike, image: np.ndarray | Image.Image | Picture, *,
                overwrite: bool = False, quality: int = 95) -> Path:
    """Write an image atomically; the format follows the extension. JPEG drops alpha."""
    fmt = output_format(path)
    if isinstance(image, Picture) and image.deep is not None and fmt in ("PNG", "TIFF"):
        data = _encode_16_bit(image, fmt)
        with atomic_output(path, overwrite) as tmp:
            tmp.write_bytes(data)
        return Path(path)
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


def resize(image: np.ndarray, size: tuple[int, int], resample=Image.BICUBIC) -> np.ndarray:
    """The one resize: an (H, W) or (H, W, C) array to (width, height) = `size` with PIL's filter
    `resample`. uint8 stays uint8; any other dtype is resized in float32 channel by channel (so 16-bit
    and float precision survive; bicubic and Lanczos may overshoot the input's range)."""
    size = (int(size[0]), int(size[1]))
    if image.dtype == np.uint8 and (image.ndim == 2 or image.shape[2] in (3, 4)):
        return np.asarray(Image.fromarray(image).resize(size, resample))
    planes = image[..., None] if image.ndim == 2 else image
    mode = "L" if image.dtype == np.uint8 else "F"
    dtype = np.uint8 if mode == "L" else np.float32
    out = np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(plane, dtype), mode).resize(size, resample))
                    for plane in np.moveaxis(planes, 2, 0)], axis=2)
    return out[..., 0] if image.ndim == 2 else out


def resize_long_side(rgb: np.ndarray, long_side: int, resample=Image.BICUBIC) -> np.ndarray:
    """Resize so that the longer side is `long_side` pixels, keeping the aspect ratio."""
    height, width = rgb.shape[:2]
    scale = long_side / max(height, width)
    return resize(rgb, (max(1, round(width * scale)), max(1, round(height * scale))), resample)
