"""Trained style networks: a shipped style by name or a weights file as Keras (`load_model`), and
`FastStylizer`, which paints photos of any size in one forward pass."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from visiontk import runtime
from visiontk.errors import BadInputError, WeightsError
from visiontk.imageio import resize_long_side
from visiontk.runtime import keras_policy, resolve_precision
from visiontk.style import color
from visiontk.style.transfer import load_input

STYLE_MODELS = ("starry-night", "the-scream")    # shipped as the registry entries style-NAME
DEFAULT_SIZE = 512          # the long side the shipped styles paint at by default


def network_shape(path: str | os.PathLike) -> tuple[int, int]:
    """(filters, residual_blocks) of a transformation network's weights file, read from its kernels."""
    import h5py

    kernels = []
    try:
        with h5py.File(path, "r") as f:
            f.visititems(lambda name, obj: kernels.append(obj.shape)
                         if isinstance(obj, h5py.Dataset) and obj.ndim == 4 else None)
    except OSError as exc:
        raise WeightsError(f"{path}: not a readable weights file ({exc})") from None
    first = [k for k in kernels if k[:3] == (9, 9, 3)]
    blocks, odd = divmod(len(kernels) - 6, 2)
    if not first or odd or blocks < 1:
        raise WeightsError(f"{path}: not the weights of a style transformation network")
    return int(first[0][3]), blocks


def load_model(name_or_path: str | os.PathLike, precision: str = "float32"):
    """The Keras transformation network of a shipped style (see STYLE_MODELS) or of a weights file."""
    from visiontk.weights import resolve

    path = Path(name_or_path)
    if not (path.suffix == ".h5" or path.exists()):
        if str(name_or_path) not in STYLE_MODELS:
            raise WeightsError(f"unknown style model {name_or_path!r}: use {', '.join(STYLE_MODELS)} or a "
                               f".weights.h5 file made by `visiontk stylize train` + `stylize export`")
        path = resolve(f"style-{name_or_path}")
    elif not path.exists():
        raise WeightsError(f"{path}: no such weights file")
    runtime.tensorflow()
    from visiontk.backbones.transformer import StyleTransformer

    filters, blocks = network_shape(path)
    with keras_policy("mixed_bfloat16" if precision == "bfloat16" else "float32"):
        return StyleTransformer(filters, blocks, weights=path)


class FastStylizer:
    """Paints photos with one trained network; build it once for a batch of photos."""

    def __init__(self, model: str | os.PathLike = "starry-night", precision: str = "auto") -> None:
        self.name = str(model)   # the shipped name or the file, as records report it
        self.precision = resolve_precision(precision)
        self.network = load_model(model, self.precision)
        tf = runtime.tensorflow()
        # One trace for every photo size (a new trace per size would cost more than painting).
        self._run = tf.function(lambda x: self.network(x, training=False),
                                input_signature=[tf.TensorSpec((None, None, None, 3), tf.float32)])

    def __call__(self, photo: np.ndarray | str | os.PathLike, *, size: int | None = DEFAULT_SIZE,
                 preserve_color: bool = False, strength: float = 1.0) -> np.ndarray:
        """The painted photo, (H, W, 3) uint8 with a long side of `size` pixels (None: the photo's own).
        `strength` (0..1) mixes the painting with the photo: 1 paints fully, 0 leaves the photo."""
        if not 0.0 <= strength <= 1.0:
            raise BadInputError(f"`strength` must be between 0 and 1, got {strength}")
        rgb = load_input(photo, "photo")
        if size is not None and size != max(rgb.shape[:2]):
            rgb = resize_long_side(rgb, size)
        painted = self.paint(rgb)
        if strength < 1.0:
            painted = np.clip(np.round(strength * painted + (1.0 - strength) * rgb.astype(np.float32)), 0, 255)
            painted = painted.astype(np.uint8)
        if preserve_color:
            painted = color.with_chrominance(color.luminance(painted), rgb)
            painted = np.clip(np.round(painted), 0, 255).astype(np.uint8)
        return painted

    def paint(self, rgb: np.ndarray) -> np.ndarray:
        """One forward pass on an RGB uint8 image of any size (mirror-padded to a multiple of 4)."""
        from visiontk.backbones.transformer import PAD_MULTIPLE

        height, width = rgb.shape[:2]
        pad_h, pad_w = -height % PAD_MULTIPLE, -width % PAD_MULTIPLE
        mode = "reflect" if min(height, width) > max(pad_h, pad_w) else "edge"
        padded = np.pad(rgb, ((0, pad_h), (0, pad_w), (0, 0)), mode=mode).astype(np.float32)
        try:
            out = self._run(padded[None]).numpy()[0, :height, :width]
        except (MemoryError, runtime.tensorflow().errors.ResourceExhaustedError):
            raise BadInputError(f"{width}x{height} is too large to paint in memory; use a smaller `size`") from None
        return np.clip(np.round(out), 0, 255).astype(np.uint8)
