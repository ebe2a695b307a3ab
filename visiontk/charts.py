"""Pictures of results people look at: line charts as PNG files (training curves, benchmark plots, on
matplotlib's Agg backend) and image grids (sample sheets)."""
from __future__ import annotations

import math
import os
from typing import Mapping, Sequence

import numpy as np

from visiontk.atomic import atomic_output

Series = tuple[Sequence[float], Sequence[float]]


def line_chart(path: str | os.PathLike, panels: Mapping[str, Mapping[str, Series]], *, xlabel: str = "step",
               ylabel: str = "", log_y: Sequence[str] = (), width: float = 5.0, height: float = 3.2) -> None:
    """One panel per entry of `panels` (its title -> {label: (xs, ys)}), side by side, written atomically
    to `path`. Panels named in `log_y` use a logarithmic y axis."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width * len(panels), height), dpi=100, layout="constrained")
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    for ax, (title, series) in zip(axes, panels.items()):
        for label, (xs, ys) in series.items():
            ax.plot(list(xs), list(ys), label=label, linewidth=1.2)
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        if title in log_y:
            ax.set_yscale("log")
        if len(series) > 1:
            ax.legend(fontsize="small")
    with atomic_output(path, overwrite=True) as tmp:
        figure.savefig(tmp, format="png")


def grid(images: np.ndarray, columns: int | None = None, gap: int = 2, scale: int = 1) -> np.ndarray:
    """uint8 images (N, H, W, C) tiled into one (rows*H, columns*W, C) sheet with `gap` pixel borders."""
    count, height, width, channels = images.shape
    columns = columns or math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    sheet = np.zeros((rows * (height + gap) + gap, columns * (width + gap) + gap, channels), np.uint8)
    for i, image in enumerate(images):
        top, left = gap + (i // columns) * (height + gap), gap + (i % columns) * (width + gap)
        sheet[top:top + height, left:left + width] = image
    if scale > 1:
        sheet = sheet.repeat(scale, axis=0).repeat(scale, axis=1)
    return sheet
