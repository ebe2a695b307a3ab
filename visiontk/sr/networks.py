"""The super-resolution networks a weights file can hold (EDSR or WDSR-B), told apart by its kernels:
no file carries its architecture, but their shapes do (WDSR's skip branch is the only 5x5 kernel)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from visiontk.errors import WeightsError
from visiontk.sr.edsr_files import kernel_shapes, structure as edsr_structure

ARCHS = ("edsr", "wdsr")


@dataclass(frozen=True)
class Network:
    """An sr network's shape: enough to build it (`build`) and load weights into it."""

    arch: str           # "edsr" or "wdsr"
    scale: int
    blocks: int
    features: int
    expansion: int | None = None    # WDSR's widening inside its blocks
    res_scaling: float | None = None  # EDSR's residual scaling (not visible in a file)

    @property
    def label(self) -> str:
        """e.g. "EDSR 16x64" or "WDSR-B 32x32 e6"."""
        if self.arch == "wdsr":
            return f"WDSR-B {self.blocks}x{self.features} e{self.expansion}"
        return f"EDSR {self.blocks}x{self.features}"


def read_network(path: Path) -> Network:
    """The network of an sr weights file, or WeightsError if it is neither EDSR nor WDSR."""
    from visiontk.backbones.wdsr import SKIP_KERNEL

    shapes = kernel_shapes(Path(path))
    if any(shape[0] == SKIP_KERNEL for shape in shapes):
        return _wdsr_structure(path, shapes)
    scale, blocks, features = edsr_structure(Path(path))
    return Network("edsr", scale, blocks, features)


def _wdsr_structure(path: Path, shapes: list[tuple]) -> Network:
    from visiontk.backbones.wdsr import SKIP_KERNEL, low_rank_width

    wide = [s for s in shapes if s[:2] == (1, 1)]
    heads = [s for s in shapes if s[:3] == (3, 3, 3)]
    skips = [s for s in shapes if s[0] == SKIP_KERNEL]
    if len(heads) != 1 or len(skips) != 1 or not wide or len(wide) % 2:
        raise WeightsError(f"{path}: not WDSR weights (convolution shapes don't fit WDSR-B)")
    features, blocks = heads[0][3], len(wide) // 2
    expansion, rest = divmod(wide[0][3], features)
    scale = round((skips[0][3] / 3) ** 0.5)
    expected = 1 + 3 * blocks + 2
    if rest or len(shapes) != expected or 3 * scale * scale != skips[0][3] or wide[1][3] != low_rank_width(features):
        raise WeightsError(f"{path}: not WDSR weights (convolution shapes don't fit WDSR-B)")
    return Network("wdsr", scale, blocks, features, expansion)


def build(network: Network):
    """The Keras model of `network`, freshly initialised."""
    if network.arch == "wdsr":
        from visiontk.backbones.wdsr import WDSR

        return WDSR(network.scale, network.blocks, network.features, network.expansion)
    from visiontk.backbones.edsr import EDSR

    return EDSR(network.scale, network.blocks, network.features, network.res_scaling)


def load_network(path: Path, scale: int):
    """The model of an sr weights file, loaded; a file for another scale is refused (WeightsError)."""
    path = Path(path)
    network = read_network(path)
    if network.scale != scale:
        raise WeightsError(f"{path}: these are x{network.scale} weights, not x{scale}; use `scale` "
                           f"{network.scale} or an x{scale} model")
    model = build(network)
    try:
        model.load_weights(path)
    except (ValueError, KeyError) as exc:
        raise WeightsError(f"{path}: {network.label} weights don't fit the model ({exc})") from None
    return model


def weights_scale(path: Path) -> int:
    """The upscaling factor an sr weights file was made for."""
    return read_network(Path(path)).scale
