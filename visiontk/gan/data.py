"""Training and reference images for the GAN: folders of images, IDX files (MNIST layout, gzipped or
not) and .npz archives, all read into one uint8 array of shape (N, size, size, channels)."""
from __future__ import annotations

import gzip
import logging
from pathlib import Path

import numpy as np
from PIL import Image

from visiontk.errors import BadInputError
from visiontk.imageio import IMAGE_EXTENSIONS, check_input_file, expand_inputs, read_picture, resize

log = logging.getLogger("visiontk")

IMAGE_SIZES = (28, 32, 64)
IDX_IMAGE_NAMES = ("train-images-idx3-ubyte", "train-images.idx3-ubyte")
NPZ_KEYS = ("images", "x", "x_train", "arr_0")


def load_images(source: str | Path, image_size: int | None = None, masks: str | Path | None = None,
                limit: int | None = None) -> np.ndarray:
    """All images of `source` as uint8 (N, H, W, C): C is 1 (gray) or 3 (colour), plus a mask channel
    with `masks` (an .npz may hold RGB + mask itself). `-` reads image paths (or folders) from stdin.

    With `image_size` every image is centre-cropped to a square and resized to it (and a note says how
    many needed it); without it the images must share one size.
    """
    source = Path(source)
    if masks is not None and not source.is_dir():
        raise BadInputError(f"{source}: `masks` needs DATA to be a folder of images (masks match by name)")
    if str(source) != "-" and source.exists() and not source.is_dir():
        check_input_file(source)  # a FIFO or device would block the read for ever
    if str(source) == "-":
        images = _read_images(expand_inputs(["-"])[:limit], "the paths on stdin", image_size)
    elif not source.exists():
        raise BadInputError(f"{source}: no such file or folder")
    elif source.is_dir():
        idx = _idx_in_folder(source)
        images = load_idx(idx) if idx else _load_folder(source, image_size, masks, limit)
    elif _is_idx(source):
        images = load_idx(source)
    elif source.suffix.lower() == ".npz":
        images = _load_npz(source)
    elif source.suffix.lower() in IMAGE_EXTENSIONS:
        raise BadInputError(f"{source}: a single image is not a data set; give the folder that holds the "
                            "images")
    else:
        raise BadInputError(f"{source}: unsupported data (use a folder of images, an IDX file like "
                            "train-images-idx3-ubyte[.gz], or an .npz with an 'images' array)")
    if limit is not None:
        images = images[:limit]
    if image_size is not None and images.shape[1:3] != (image_size, image_size):
        images = np.stack([_fit_square(im, image_size) for im in images])
    return images


def load_idx(path: str | Path) -> np.ndarray:
    """An IDX file (as MNIST ships them, gzipped or not) as a uint8 array; images get a channel axis."""
    path = Path(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as handle:
            data = handle.read()
    except (OSError, EOFError) as exc:
        raise BadInputError(f"{path}: cannot read IDX file ({exc})") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise BadInputError(f"{path}: not an IDX file of unsigned bytes (bad magic number)")
    ndim = data[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    if len(data) != header + int(np.prod(shape)):
        raise BadInputError(f"{path}: IDX file is truncated (header says {shape})")
    array = np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)
    return array[..., None] if ndim == 3 else array


def labels_for(images_path: str | Path) -> np.ndarray:
    """The labels IDX file beside an images IDX file (train-images-idx3 -> train-labels-idx1)."""
    images_path = Path(images_path)
    if images_path.is_dir():
        images_path = _idx_in_folder(images_path) or images_path
    name = images_path.name.replace("images-idx3", "labels-idx1").replace("images.idx3", "labels.idx1")
    labels_path = images_path.with_name(name)
    if name == images_path.name or not labels_path.exists():
        raise BadInputError(f"{images_path}: no labels file beside it (expected {labels_path})")
    return load_idx(labels_path)


def _is_idx(path: Path) -> bool:
    return "idx" in path.name and "ubyte" in path.name


def _idx_in_folder(folder: Path) -> Path | None:
    """A folder holding MNIST-style IDX files stands for its training images."""
    for name in IDX_IMAGE_NAMES:
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    return None


def _load_npz(path: Path) -> np.ndarray:
    try:
        with np.load(path) as archive:
            key = next((k for k in NPZ_KEYS if k in archive.files), None)
            if key is None:
                raise BadInputError(f"{path}: no image array in the .npz (name it one of "
                                    f"{', '.join(NPZ_KEYS)})")
            images = archive[key]
    except (OSError, ValueError) as exc:
        raise BadInputError(f"{path}: cannot read .npz ({exc})") from None
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3, 4):
        raise BadInputError(f"{path}: array {key!r} has shape {images.shape}; expected (N, H, W[, 1|3|4])")
    if images.dtype != np.uint8:
        # Floats in [0, 1] or [-1, 1] are common in .npz files.
        low = -1.0 if images.min() < 0 else 0.0
        images = np.clip(np.round((images.astype(np.float64) - low) / (1.0 - low) * 255), 0, 255)
    return images.astype(np.uint8)


def _load_folder(folder: Path, image_size: int | None, masks: str | Path | None,
                 limit: int | None) -> np.ndarray:
    paths = [p for p in expand_inputs([folder]) if p.is_file()][:limit]
    if not paths:
        raise BadInputError(f"{folder}: no images found (looked for {', '.join(IMAGE_EXTENSIONS)}, "
                            "recursively)")
    images = _read_images(paths, str(folder), image_size)
    if masks is not None:
        side = images.shape[1]
        mask_images = np.stack([_fit_square(_read_mask(_mask_path(Path(masks), folder, p)), side,
                                            Image.NEAREST) for p in paths])
        images = np.concatenate([images, mask_images], axis=-1)
    return images


def _read_images(paths: list[Path], where: str, image_size: int | None) -> np.ndarray:
    """Read image files into one array: gray if all are, squared to `image_size` (or their common size)."""
    if not paths:
        raise BadInputError(f"{where}: no images")
    pictures = [read_picture(p) for p in _progress(paths, "reading images")]
    sizes = {pic.size for pic in pictures}
    if len(sizes) > 1 and image_size is None:
        raise BadInputError(f"{where}: images have {len(sizes)} different sizes (e.g. "
                            f"{', '.join(f'{w}x{h}' for w, h in sorted(sizes)[:3])}); pass `image_size` to "
                            "crop and resize them all")
    side = image_size or pictures[0].size[0]
    resized = sum(pic.size != (side, side) for pic in pictures)
    if resized:
        log.warning("%s: %d of %d images were centre-cropped and resized to %dx%d", where, resized,
                    len(pictures), side, side)
    gray = all(pic.grayscale for pic in pictures)
    return np.stack([_fit_square(pic.rgb[..., :1] if gray else pic.rgb, side) for pic in pictures])


def _mask_path(mask_dir: Path, folder: Path, image: Path) -> Path:
    """The mask of `image`: the same relative path (any image extension) under `mask_dir`."""
    if not mask_dir.is_dir():
        raise BadInputError(f"{mask_dir}: `masks` must be a folder of mask images")
    relative = image.relative_to(folder).with_suffix("")
    for base in (mask_dir / relative.parent, mask_dir):
        for ext in IMAGE_EXTENSIONS + tuple(e.upper() for e in IMAGE_EXTENSIONS):
            candidate = base / f"{relative.name}{ext}"
            if candidate.is_file():
                return candidate
    raise BadInputError(f"{image}: no mask for it in {mask_dir} (expected {mask_dir / relative}.png)")


def _read_mask(path: Path) -> np.ndarray:
    """A mask as one uint8 channel: 0 background, 255 object (any non-zero pixel counts as object)."""
    picture = read_picture(path)
    has_alpha = picture.alpha is not None and picture.alpha.min() < 255
    mask = picture.alpha if has_alpha else picture.rgb.max(axis=-1)
    return np.where(mask > 0, 255, 0).astype(np.uint8)[..., None]


def _fit_square(image: np.ndarray, side: int, resample=Image.BICUBIC) -> np.ndarray:
    """Centre-crop to a square and resize to side x side (uint8, channel axis kept)."""
    height, width, channels = image.shape
    if (height, width) == (side, side):
        return image
    crop = min(height, width)
    top, left = (height - crop) // 2, (width - crop) // 2
    square = image[top:top + crop, left:left + crop]
    return resize(square, (side, side), resample)


def _progress(items, desc: str):
    from visiontk.runtime import progress

    return progress(items, desc=desc, unit="img")
