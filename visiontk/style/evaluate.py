"""How strongly a trained style network paints, measured as Johnson et al. (ECCV 2016) measured theirs:
against Gatys' optimisation from noise after 20, 50 and 100 L-BFGS iterations, on the terms of the very
objective `stylize` optimises (VGG16, its default weights), at several sizes, on photos the network never
saw.

Each picture is scored with the style term relative to the photo's own (1.0 = no style at all; the
painting resized to the picture's long side) and the content term. The targets (issue 22): at every
size, the network's mean style distance at most 3x Gatys-50's and its content distance at most 1.5x.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import numpy as np

from visiontk.imageio import read_image, resize_long_side, write_image

GATYS_ITERATIONS = (20, 50, 100)
STYLE_TARGET, CONTENT_TARGET = 3.0, 1.5     # the network's distances over Gatys-50's
PathLike = str | os.PathLike


def gatys_from_noise(stylizer, photo: np.ndarray, size: int, cache: Path | None = None) -> dict[int, np.ndarray]:
    """Gatys from noise at one scale: the picture after each of GATYS_ITERATIONS iterations. With `cache`
    (a folder for this painting, photo and size) the pictures are kept there and read back next time."""
    paths = {n: cache / f"gatys{n}.png" for n in GATYS_ITERATIONS} if cache else {}
    if paths and all(p.is_file() for p in paths.values()):
        return {n: read_image(p) for n, p in paths.items()}
    kept: dict[int, np.ndarray] = {}

    def keep(picture: np.ndarray, scale: int, iteration: int) -> None:
        if iteration in GATYS_ITERATIONS:
            kept[iteration] = picture

    result = stylizer(photo, size=size, scales=1, init="noise", iterations=max(GATYS_ITERATIONS), seed=0,
                      save_every=10, on_save=keep)
    for n in GATYS_ITERATIONS:   # L-BFGS stopped early (converged): the last picture stands for the rest
        kept.setdefault(n, result.image)
        if paths:
            write_image(paths[n], kept[n], overwrite=True)
    return kept


def evaluate(model: PathLike, painting: PathLike, photos: Iterable[PathLike], sizes: Iterable[int] = (256, 512, 1024),
             *, cache: PathLike | None = None, pictures: PathLike | None = None) -> dict:
    """Judge the network `model` (a shipped style or a weights file) that paints like `painting` on
    `photos` at each of `sizes` (long side). Returns {"rows": one per (size, photo, method), "means": per
    "SIZE/METHOD", "verdicts": per size the network's ratios to Gatys-50 and whether the targets are met,
    "met": at every size}. `cache` keeps Gatys' pictures between runs; `pictures` writes every judged
    picture as SIZE/PHOTO_METHOD.jpg."""
    from visiontk.style.model import FastStylizer
    from visiontk.style.transfer import Stylizer

    painting = Path(painting)
    scorer = Stylizer(painting, backbone="vgg16", precision="float32")
    optimiser = Stylizer(painting, backbone="vgg16")
    network = FastStylizer(model)
    rows = []
    for size in sizes:
        for path in map(Path, photos):
            photo = resize_long_side(read_image(path), size)
            own = scorer.measure(photo, photo)
            folder = Path(cache) / painting.stem / f"{path.stem}-{size}" if cache else None
            results = {f"gatys-{n}": image for n, image in gatys_from_noise(optimiser, photo, size, folder).items()}
            results["network"] = network(photo, size=size)
            for method, image in results.items():
                terms = scorer.measure(photo, image)
                rows.append({"size": size, "photo": path.name, "method": method,
                             "style": terms["style_loss"] / own["style_loss"], "content": terms["content_loss"]})
                if pictures is not None:
                    write_image(Path(pictures) / f"{size}" / f"{path.stem}_{method}.jpg", image, overwrite=True)
    return summarise(rows)


def summarise(rows: list[dict]) -> dict:
    """Means per size and method of `evaluate`'s rows, and the verdict at each size."""
    sizes = sorted({r["size"] for r in rows})
    means = {}
    for size in sizes:
        for method in dict.fromkeys(r["method"] for r in rows):
            mine = [r for r in rows if r["size"] == size and r["method"] == method]
            means[f"{size}/{method}"] = {k: float(np.mean([r[k] for r in mine])) for k in ("style", "content")}
    verdicts = {}
    for size in sizes:
        net, g50 = means[f"{size}/network"], means[f"{size}/gatys-50"]
        style_ratio, content_ratio = net["style"] / g50["style"], net["content"] / g50["content"]
        verdicts[size] = {"style_ratio": style_ratio, "content_ratio": content_ratio,
                          "met": bool(style_ratio <= STYLE_TARGET and content_ratio <= CONTENT_TARGET)}
    return {"rows": rows, "means": means, "verdicts": verdicts, "met": all(v["met"] for v in verdicts.values())}
