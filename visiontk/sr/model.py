"""The sr task's model: a registry name or weights file resolved to a Keras EDSR or WDSR at its scale (`load_model`)."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from visiontk.backbones.edsr import SCALES
from visiontk.errors import WeightsError
from visiontk.runtime import keras_policy, tensorflow

DEFAULT_SCALE = 4


def default_model(scale: int) -> str:
    """The registry name of the shipped EDSR-baseline for `scale`."""
    return f"edsr-x{scale}"


def weights_path(model: str | Path | None, scale: int) -> Path:
    """A weights file for `model`: a registry name (default: the shipped model for `scale`) or a path."""
    from visiontk import weights

    model = model or default_model(scale)
    candidate = Path(model)
    if candidate.suffix == ".h5" or candidate.is_file():
        if not candidate.is_file():
            raise WeightsError(f"{candidate}: no such weights file")
        return candidate
    return weights.resolve(str(model))


def resolve_scale(scale: int | None, model: str | Path | None, outscale: float | None = None) -> int:
    """The model scale to run: the one asked for; else that of `--model`'s weights (a file or a
    registry name); else the smallest of 2, 3, 4 at or above `outscale`; else 4."""
    if scale is not None:
        return scale
    if model is not None:
        from visiontk.sr.networks import weights_scale

        return weights_scale(weights_path(model, DEFAULT_SCALE))
    if outscale is not None:
        return next((s for s in SCALES if s >= outscale - 1e-9), max(SCALES))
    return DEFAULT_SCALE


@lru_cache(maxsize=4)
def _load(path: Path, mtime: float, scale: int, precision: str):
    from visiontk.sr.networks import load_network

    tf = tensorflow()
    # Under mixed_bfloat16 the weights stay float32 and are cast per layer; the first and last layers
    # compute in float32 (see backbones.edsr), so pixels go in and come out as float32.
    with keras_policy("mixed_bfloat16" if precision == "bfloat16" else "float32"):
        model = load_network(path, scale)
    predict = tf.function(lambda x: model(x, training=False),
                          input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
    return model, predict


def load_predictor(model: str | Path | None, scale: int, precision: str = "float32"):
    """(keras model, compiled batch predict function) for `model` at `scale`, computing in `precision`
    (float32 or bfloat16); WeightsError if the weights don't fit."""
    path = weights_path(model, scale)
    return _load(path.resolve(), path.stat().st_mtime, scale, precision)


def load_model(name_or_path: str | Path | None = None, scale: int | None = None, precision: str = "float32"):
    """The sr task's model: the Keras EDSR or WDSR of a registry name (default: the shipped model for
    `scale`, 4 when not given) or of a weights file, at the scale its weights have."""
    scale = resolve_scale(scale, name_or_path)
    return load_predictor(name_or_path, scale, precision)[0]
