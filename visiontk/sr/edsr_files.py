"""EDSR weight files (Keras 3 .weights.h5): their structure and scale, read from the kernels, and loading
them for a scale. (krasserm's published weights are imported by visiontk.sr.krasserm.)"""
from __future__ import annotations

from pathlib import Path

from visiontk.errors import WeightsError


def kernel_shapes(path: Path) -> list[tuple]:
    """Shapes of the convolution kernels of a Keras 3 `.weights.h5` file, in the model's layer order.

    Keras 3 names the layers in the file by type and position (conv2d, conv2d_1, ...), not by the
    layers' own names, so the structure is read from the order and shapes."""
    import h5py

    found = []
    try:
        with h5py.File(path, "r") as f:
            layers = f.get("layers")
            if layers is None:
                raise WeightsError(f"{path}: not a Keras 3 .weights.h5 file (no 'layers' group)")
            for name, group in layers.items():
                kernel = group.get("vars/0")
                if kernel is not None and kernel.ndim == 4:
                    index = name.rsplit("_", 1)[1] if name.rsplit("_", 1)[-1].isdigit() else "0"
                    found.append((name.rsplit("_", 1)[0] if index != "0" or "_" in name else name,
                                  int(index), tuple(kernel.shape)))
    except OSError as exc:
        raise WeightsError(f"{path}: not a readable HDF5 weights file ({exc})") from None
    return [shape for _, _, shape in sorted(found)]


def structure(path: Path) -> tuple[int, int, int]:
    """(scale, blocks, features) of an EDSR weights file, or WeightsError if it isn't EDSR."""
    shapes = kernel_shapes(path)
    if any(shape[:2] != (3, 3) for shape in shapes):
        raise WeightsError(f"{path}: not EDSR weights (EDSR has 3x3 convolutions only)")
    if len(shapes) < 5 or shapes[-1][3] != 3:
        raise WeightsError(f"{path}: not EDSR weights ({len(shapes)} convolutions, no RGB tail)")
    features = shapes[0][3]
    upsamplers = [s[3] for s in shapes[1:-1] if s[3] != features]
    blocks, odd = divmod(len(shapes) - 3 - len(upsamplers), 2)
    if odd or blocks < 1 or upsamplers not in ([features * 4], [features * 4] * 2, [features * 9]):
        raise WeightsError(f"{path}: not EDSR weights (convolution shapes don't fit EDSR)")
    scale = {1: round((upsamplers[0] / features) ** 0.5), 2: 4}[len(upsamplers)]
    return scale, blocks, features


def weights_scale(path: Path) -> int:
    """The upscaling factor an EDSR weights file was made for."""
    return structure(path)[0]


def load_edsr(path: Path, scale: int, res_scaling: float | None = None):
    """Build EDSR matching the file and load it; a file for another scale is refused (WeightsError)."""
    from visiontk.backbones.edsr import EDSR

    path = Path(path)
    found, blocks, features = structure(path)
    if found != scale:
        raise WeightsError(f"{path}: these are x{found} weights, not x{scale}; use `scale` {found} or "
                           f"an x{scale} model")
    model = EDSR(scale, blocks, features, res_scaling)
    try:
        model.load_weights(path)
    except (ValueError, KeyError) as exc:
        raise WeightsError(f"{path}: EDSR weights don't fit the model ({exc})") from None
    return model
