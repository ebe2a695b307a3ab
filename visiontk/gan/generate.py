"""Sampling from trained generators: image files and sheets, latent walks."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from visiontk import runtime
from visiontk.errors import BadInputError
from visiontk.gan.pictures import write_picture, write_sheet
from visiontk.gan.model import DEFAULT_MODEL, SHIPPED, Generator, load_model, locate  # noqa: F401
# SHIPPED and load_generator are read from here by callers older than gan.model (see visiontk.compat).
load_generator = load_model
from visiontk.atomic import check_output

log = logging.getLogger("visiontk")

def latents(count: int, latent_dim: int, seed: int) -> np.ndarray:
    """`count` latent vectors drawn from N(0, 1), the same for the same seed."""
    return np.random.default_rng(seed).standard_normal((count, latent_dim)).astype(np.float32)


def resolve_seed(seed: int | None) -> int:
    if seed is not None:
        return seed
    if runtime.settings.seed is not None:
        return runtime.settings.seed
    return int(np.random.SeedSequence().entropy % 2**31)


def generate(model: str | Path | None = None, n: int = 64, *, grid: str | Path | None = None,
             output_dir: str | Path | None = None, seed: int | None = None, rgba: bool = False,
             scale: int = 1, overwrite: bool = False) -> dict:
    """Sample `n` images; write them as one sheet (`grid`) and/or single files in `output_dir`.

    4-channel (RGB + mask) models write the mask to a `-mask` file beside each picture, or as the
    alpha channel with rgba=True. `scale` enlarges the sheet (nearest neighbour) for viewing.
    """
    if n < 1 or scale < 1:
        raise BadInputError("`n` and `scale` must be at least 1")
    if n > MAX_IMAGES:
        raise BadInputError(f"`n` {n}: at most {MAX_IMAGES} images per run")
    if grid is None and output_dir is None:
        raise BadInputError("say where to write: `grid` OUT.png and/or `output_dir` DIR")
    config = locate(DEFAULT_MODEL if model is None else model)[1]
    if grid is not None:
        _check_sheet_size(n, int(config["image_size"]), scale)
    # Every file this run would write is checked before the first is written (and before the slow
    # part): all or nothing.
    for path in _planned_outputs(grid, output_dir, n, int(config["channels"]) == 4 and not rgba):
        check_output(path, overwrite)
    images, record = sample(load_model(model), n, seed)
    written: list[Path] = []
    if grid is not None:
        written += _write_sheet(Path(grid), images, rgba, scale, overwrite)
    if output_dir is not None:
        written += _write_singles(Path(output_dir), images, rgba, overwrite)
    return {**record, "written": [str(p) for p in written]}


def sample(generator: Generator, n: int, seed: int | None = None) -> tuple[np.ndarray, dict]:
    """`n` uint8 images (N, H, W, C) from `generator`, and their record (model, n, seed, shape) as
    `gan generate --json` prints it (without the files written); seed None: the global or a random one."""
    seed = resolve_seed(seed)
    images = generator.images(latents(n, generator.latent_dim, seed))
    return images, {"model": generator.name, "n": n, "seed": seed, "shape": list(images.shape[1:])}


MAX_IMAGES = 100_000
MAX_STEPS = 256  # one strip of images side by side


def _check_sheet_size(n: int, side: int, scale: int) -> None:
    from visiontk.imageio import max_pixels

    width = int(np.ceil(np.sqrt(n))) * side * scale
    if width * width > max_pixels():
        raise BadInputError(f"a sheet of {n} images at `scale` {scale} would be about {width}x{width} "
                            f"pixels, over the limit of {max_pixels()}; lower `n` or `scale`")


def _single_path(folder: Path, index: int) -> Path:
    return folder / f"sample-{index:05d}.png"


def _planned_outputs(grid, output_dir, n: int, with_masks: bool) -> list[Path]:
    from visiontk.gan.pictures import mask_path

    paths = [Path(grid)] if grid is not None else []
    if output_dir is not None:
        paths += [_single_path(Path(output_dir), i) for i in range(n)]
    return paths + [mask_path(p) for p in paths] if with_masks else paths


def _write_sheet(path: Path, images: np.ndarray, rgba: bool, scale: int, overwrite: bool) -> list[Path]:
    from visiontk.gan.pictures import grid

    columns = int(np.ceil(np.sqrt(len(images))))
    if rgba and images.shape[-1] == 4:
        return write_picture(path, _rgba(grid(images, columns, scale=scale)), None, overwrite=overwrite)
    return write_sheet(path, images, columns=columns, overwrite=overwrite, scale=scale)


def _write_singles(folder: Path, images: np.ndarray, rgba: bool, overwrite: bool) -> list[Path]:
    from visiontk.gan.pictures import sheet_pictures

    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for i, image in enumerate(images):
        path = _single_path(folder, i)
        if rgba and image.shape[-1] == 4:
            written += write_picture(path, _rgba(image), None, overwrite=overwrite)
        else:
            written += write_picture(path, *sheet_pictures(image), overwrite=overwrite)
    return written


def _rgba(image: np.ndarray):
    from PIL import Image

    return Image.fromarray(np.ascontiguousarray(image), "RGBA")


def slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Spherical interpolation, which keeps intermediate latents at the norm N(0, 1) samples have."""
    cos = np.dot(a / np.linalg.norm(a), b / np.linalg.norm(b))
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    if omega < 1e-6:
        return (1 - t) * a + t * b
    return (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)


def interpolate(model: str | Path | None, seed_a: int, seed_b: int, *, steps: int = 8,
                output: str | Path, overwrite: bool = False) -> dict:
    """A strip of `steps` images walking the latent space from seed_a's sample to seed_b's."""
    if not 2 <= steps <= MAX_STEPS:
        raise BadInputError(f"`steps` must be between 2 and {MAX_STEPS}")
    check_output(output, overwrite)
    generator = load_model(model)
    a, b = latents(1, generator.latent_dim, seed_a)[0], latents(1, generator.latent_dim, seed_b)[0]
    walk = np.stack([slerp(a, b, t) for t in np.linspace(0.0, 1.0, steps)])
    images = generator.images(walk)
    scale = max(1, 128 // images.shape[1])
    written = write_sheet(output, images, columns=steps, overwrite=overwrite, scale=scale)
    return {"model": generator.name, "seeds": [seed_a, seed_b], "steps": steps,
            "written": [str(p) for p in written]}
