"""EDSR weight files: telling their scale, loading them for a scale, and importing krasserm's weights."""
from __future__ import annotations

from pathlib import Path

from visiontk.errors import WeightsError


def kernel_shapes(path: Path) -> dict[str, tuple]:
    """Layer name -> kernel shape of a Keras 3 `.weights.h5` file (4-D kernels only)."""
    import h5py

    shapes = {}
    try:
        with h5py.File(path, "r") as f:
            layers = f.get("layers")
            if layers is None:
                raise WeightsError(f"{path}: not a Keras 3 .weights.h5 file (no 'layers' group)")
            for name, group in layers.items():
                kernel = group.get("vars/0")
                if kernel is not None and kernel.ndim == 4:
                    shapes[name] = tuple(kernel.shape)
    except OSError as exc:
        raise WeightsError(f"{path}: not a readable HDF5 weights file ({exc})") from None
    return shapes


def weights_scale(path: Path) -> int:
    """The upscaling factor an EDSR weights file was made for."""
    shapes = kernel_shapes(path)
    first = shapes.get("upsample1_conv")
    features = shapes.get("head_conv", (0, 0, 0, 0))[3]
    if first is None or not features:
        raise WeightsError(f"{path}: not EDSR weights (no head_conv/upsample1_conv layer)")
    if "upsample2_conv" in shapes:
        return 4
    factor = round((first[3] / features) ** 0.5)
    if factor not in (2, 3):
        raise WeightsError(f"{path}: not EDSR weights (upsampling conv has {first[3]} filters)")
    return factor


def architecture(path: Path) -> tuple[int, int]:
    """(blocks, features) of an EDSR weights file."""
    shapes = kernel_shapes(path)
    blocks = sum(1 for name in shapes if name.startswith("block") and name.endswith("_conv1"))
    return blocks, shapes["head_conv"][3]


def load_edsr(path: Path, scale: int, res_scaling: float | None = None):
    """Build EDSR matching the file and load it; a file for another scale is refused (WeightsError)."""
    from visiontk.backbones.edsr import EDSR

    path = Path(path)
    found = weights_scale(path)
    if found != scale:
        raise WeightsError(f"{path}: these are x{found} weights, not x{scale}; use --scale {found} or "
                           f"an x{scale} model")
    blocks, features = architecture(path)
    model = EDSR(scale, blocks, features, res_scaling)
    try:
        model.load_weights(path)
    except (ValueError, KeyError) as exc:
        raise WeightsError(f"{path}: EDSR weights don't fit the model ({exc})") from None
    return model
