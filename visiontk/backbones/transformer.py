"""The image-transformation network of feed-forward style transfer (Johnson, Alahi & Fei-Fei 2016).

Johnson's design with the two changes the follow-ups made standard: instance normalisation (Ulyanov,
Vedaldi & Lempitsky 2016) instead of batch norm, and nearest-neighbour upsampling followed by a
convolution instead of transposed convolutions (Odena et al. 2016), which leave a checkerboard pattern.
Every convolution pads by reflection, so the borders of the picture carry no dark frame.

    9x9 conv 32 -> 3x3/2 conv 64 -> 3x3/2 conv 128 -> 5 residual blocks (128) ->
    up x2, 3x3 conv 64 -> up x2, 3x3 conv 32 -> 9x9 conv 3

Pixels go in and come out in [0, 255] (the output is not clipped). The network is fully convolutional:
any height and width that are multiples of 4 give an output of the same size (`pad_multiple`).
"""
from __future__ import annotations

from visiontk.backbones.blocks import layer_classes
from visiontk.weights import load_into

PAD_MULTIPLE = 4           # two stride-2 convolutions: inputs must divide by 4 to come back the same size
PIXEL_SCALE = 127.5


def _conv(x, filters: int, kernel: int, name: str, stride: int = 1, norm: bool = True,
          relu: bool = True, dtype: str | None = None):
    """Reflection pad, convolution, then instance norm and ReLU (as every layer but the last has)."""
    import keras

    x = layer_classes()["ReflectionPad"](kernel // 2, name=f"{name}_pad")(x)
    x = keras.layers.Conv2D(filters, kernel, strides=stride, padding="valid", name=f"{name}_conv",
                            dtype=dtype)(x)
    if norm:
        # GroupNormalization with one group per channel is instance normalisation.
        x = keras.layers.GroupNormalization(groups=-1, epsilon=1e-5, name=f"{name}_in")(x)
    if relu:
        x = keras.layers.ReLU(name=f"{name}_relu")(x)
    return x


def _residual(x, filters: int, name: str):
    import keras

    y = _conv(x, filters, 3, f"{name}_a")
    y = _conv(y, filters, 3, f"{name}_b", relu=False)
    return keras.layers.Add(name=f"{name}_add")([x, y])


def _upsample(x, filters: int, name: str):
    import keras

    x = keras.layers.UpSampling2D(2, interpolation="nearest", name=f"{name}_up")(x)
    return _conv(x, filters, 3, name)


def StyleTransformer(filters: int = 32, residual_blocks: int = 5, name: str = "style_transformer",
                     weights=None):
    """Build the network (about 1.7 M weights at the defaults). `filters` is the width of the first
    layer; the next two double it. Input and output: (batch, H, W, 3) RGB in [0, 255], H and W
    multiples of PAD_MULTIPLE."""
    import keras

    inputs = keras.Input(shape=(None, None, 3), name="rgb")
    x = keras.layers.Rescaling(1.0 / PIXEL_SCALE, offset=-1.0, name="normalize")(inputs)
    x = _conv(x, filters, 9, "enc1")
    x = _conv(x, filters * 2, 3, "enc2", stride=2)
    x = _conv(x, filters * 4, 3, "enc3", stride=2)
    for i in range(1, residual_blocks + 1):
        x = _residual(x, filters * 4, f"res{i}")
    x = _upsample(x, filters * 2, "dec1")
    x = _upsample(x, filters, "dec2")
    # The last layer and the output stay float32 under a mixed policy: they set the picture's precision.
    x = _conv(x, 3, 9, "out", norm=False, relu=False, dtype="float32")
    outputs = keras.layers.Rescaling(PIXEL_SCALE, offset=PIXEL_SCALE, name="denormalize", dtype="float32")(x)
    return load_into(keras.Model(inputs, outputs, name=name), weights)
