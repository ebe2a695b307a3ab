"""Importing the EDSR weights published for krasserm's `super-resolution` (TF2/Keras) into visiontk.

His `model.save_weights('weights.h5')` files are in the legacy Keras HDF5 layout: the root attribute
`layer_names` lists the layers in graph order and each layer's group lists its `weight_names`. Both
models hold the same weighted layers in the same order (head, block convs, body conv, upsampling convs,
tail), so the weights are mapped by order and shape; any difference in count or shape is refused.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from visiontk.errors import WeightsError

IMPORTED_SUFFIX = ".imported.weights.h5"


def read_legacy_h5(path: Path) -> list[list[np.ndarray]]:
    """The weights of each weighted layer of a legacy Keras .h5 file, in layer order."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            root = f["model_weights"] if "model_weights" in f else f
            if "layer_names" not in root.attrs:
                raise WeightsError(f"{path}: not a Keras HDF5 weights file (no layer_names); expected the "
                                   "weights.h5 saved by krasserm's super-resolution EDSR")
            layers = []
            for name in root.attrs["layer_names"]:
                name = name.decode() if isinstance(name, bytes) else name
                group = root[name]
                names = [n.decode() if isinstance(n, bytes) else n for n in group.attrs.get("weight_names", [])]
                if names:
                    layers.append([np.asarray(group[n]) for n in names])
            return layers
    except OSError as exc:
        raise WeightsError(f"{path}: not a readable HDF5 file ({exc})") from None


def edsr_for(layers: list[list[np.ndarray]], path: Path):
    """The visiontk EDSR whose weighted layers match `layers` in count and shapes, or WeightsError."""
    from visiontk.backbones.edsr import EDSR, SCALES, weighted_layers

    if not layers or len(layers[0]) != 2 or layers[0][0].ndim != 4:
        raise WeightsError(f"{path}: first weighted layer is not a convolution; not EDSR weights")
    features = layers[0][0].shape[3]
    for scale in SCALES:
        blocks = len(layers) - 3 - (2 if scale == 4 else 1)
        if blocks < 1 or blocks % 2:
            continue
        model = EDSR(scale, blocks // 2, features)
        expected = [[tuple(w.shape) for w in layer.weights] for layer in weighted_layers(model)]
        found = [[tuple(w.shape) for w in layer] for layer in layers]
        if expected == found:
            return model
    shapes = ", ".join("x".join(map(str, layer[0].shape)) for layer in layers[:3])
    raise WeightsError(f"{path}: {len(layers)} weighted layers ({shapes}, ...) match no EDSR of scale 2, 3 or 4 "
                       "in layer order and shape; only krasserm's EDSR weights can be imported")


def convert(source: Path, target: Path) -> int:
    """Write krasserm EDSR weights from `source` as visiontk weights at `target`; returns the scale."""
    from visiontk.backbones.edsr import weighted_layers
    from visiontk.sr.edsr_files import weights_scale

    layers = read_legacy_h5(source)
    model = edsr_for(layers, source)
    for layer, values in zip(weighted_layers(model), layers):
        layer.set_weights(values)
    model.save_weights(target)
    return weights_scale(target)


def import_weights(source: Path, spec) -> Path:
    """The registry importer: convert `source` into the cache as `<spec name>.imported.weights.h5`."""
    from visiontk.weights.registry import atomic_cache_file, cache_dir, cache_lock

    target = cache_dir() / f"{spec.name}{IMPORTED_SUFFIX}"
    with cache_lock(spec.name), atomic_cache_file(target) as tmp:
        scale = convert(Path(source), tmp)
        wanted = int(spec.name.split("-x")[1].split("-")[0]) if "-x" in spec.name else scale
        if scale != wanted:
            raise WeightsError(f"{source}: these are x{scale} EDSR weights, not x{wanted} as {spec.name!r} needs")
    return target

