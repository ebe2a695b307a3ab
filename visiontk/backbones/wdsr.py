"""WDSR-B: Wide Activation for Efficient and Accurate Image Super-Resolution (Yu et al., 2018).

Like EDSR without batch norm, but each residual block widens the features before its ReLU (1x1 conv to
`features * expansion`, ReLU, 1x1 linear low-rank conv to 0.8 * features, 3x3 conv back to `features`),
so that more information flows through the activation for the same weights. The upsampling is one
sub-pixel step straight to RGB at the end of the body (a 3x3 conv to 3 * scale^2 channels), plus a
skip branch from the input (a 5x5 conv to 3 * scale^2, shuffled too), summed. Every convolution is
weight-normalised (Salimans & Kingma 2016), which the paper uses instead of batch norm to train at a
10x higher learning rate. Pixels go in and come out in [0, 255]; the DIV2K mean is removed inside.

Saveable as plain Keras layers (no Lambda): `WeightNormConv2D` and the shared `PixelShuffle`/`MeanShift`
are registered serialisable classes.
"""
from __future__ import annotations

from typing import Any

from visiontk.backbones.blocks import mean_shift, pixel_shuffle
from visiontk.backbones.edsr import DIV2K_RGB_MEAN, PIXEL_SCALE, SCALES
from visiontk.weights import load_into

LOW_RANK = 0.8          # the linear low-rank 1x1 conv's width, as a fraction of `features` (WDSR-B)
SKIP_KERNEL = 5         # the skip branch's kernel size: the mark of a WDSR weights file
_LAYERS: dict[str, Any] = {}


def WDSR(scale: int = 4, blocks: int = 32, features: int = 32, expansion: int = 6, name: str | None = None,
         weights=None):
    """Build WDSR-B for `scale` (2, 3 or 4): `blocks` wide-activation blocks of `features` channels,
    widened `expansion` times inside.

    Input: (batch, H, W, 3) float RGB in [0, 255], any H and W. Output: (batch, H*scale, W*scale, 3) in
    [0, 255] (not clipped).
    """
    import keras

    if scale not in SCALES:
        raise ValueError(f"WDSR scale must be one of {SCALES}, not {scale}")
    conv = weight_norm_conv_class()
    inputs = keras.Input(shape=(None, None, 3), name="lr")
    # Under a mixed-precision policy both ends stay float32 (as in EDSR): they set the output's precision.
    x = mean_shift(inputs, DIV2K_RGB_MEAN, PIXEL_SCALE, inverse=False, name="normalize", dtype="float32")
    body = conv(features, 3, padding="same", name="head_conv")(x)
    for i in range(1, blocks + 1):
        body = wide_block(body, features, expansion, f"block{i}")
    channels = 3 * scale * scale
    body = conv(channels, 3, padding="same", name="tail_conv", dtype="float32")(body)
    body = pixel_shuffle(body, scale, "tail_shuffle")
    skip = conv(channels, SKIP_KERNEL, padding="same", name="skip_conv", dtype="float32")(x)
    skip = pixel_shuffle(skip, scale, "skip_shuffle")
    x = keras.layers.Add(name="skip_add", dtype="float32")([body, skip])
    outputs = mean_shift(x, DIV2K_RGB_MEAN, PIXEL_SCALE, inverse=True, name="denormalize", dtype="float32")
    model = keras.Model(inputs, outputs, name=name or f"wdsr_x{scale}_{blocks}x{features}e{expansion}")
    return load_into(model, weights)


def wide_block(x, features: int, expansion: int, name: str):
    """WDSR-B's block: 1x1 widen + ReLU, 1x1 linear low-rank, 3x3 back to `features`, plus the input."""
    import keras

    conv = weight_norm_conv_class()
    residual = conv(features * expansion, 1, padding="same", activation="relu", name=f"{name}_wide")(x)
    residual = conv(low_rank_width(features), 1, padding="same", name=f"{name}_low_rank")(residual)
    residual = conv(features, 3, padding="same", name=f"{name}_conv")(residual)
    return keras.layers.Add(name=f"{name}_add")([x, residual])


def low_rank_width(features: int) -> int:
    return int(features * LOW_RANK)


def weight_norm_conv_class():
    """`WeightNormConv2D`: a Conv2D whose kernel is g * v / ||v|| per output filter, with v the layer's
    `kernel` and g its `g` (initialised to ||v||, so that it starts as the plain convolution)."""
    if _LAYERS:
        return _LAYERS["WeightNormConv2D"]
    import keras
    from keras import ops

    @keras.saving.register_keras_serializable(package="visiontk")
    class WeightNormConv2D(keras.layers.Conv2D):
        def build(self, input_shape):
            super().build(input_shape)
            self.g = self.add_weight(name="g", shape=(self.filters,), initializer="ones")
            self.g.assign(_filter_norms(self.kernel))

        def call(self, inputs):
            # The norms in float32 even under mixed precision: bfloat16 sums of squares lose digits.
            v = ops.cast(self.kernel, "float32")
            kernel = v * (ops.cast(self.g, "float32") / _filter_norms(v))
            outputs = self.convolution_op(inputs, ops.cast(kernel, self.compute_dtype))
            outputs = ops.add(outputs, ops.reshape(self.bias, (1, 1, 1, self.filters)))
            return outputs if self.activation is None else self.activation(outputs)

        # Conv2D saves only its kernel and bias (its own override, for LoRA); g must be saved too.
        def save_own_variables(self, store):
            keras.layers.Layer.save_own_variables(self, store)

        def load_own_variables(self, store):
            keras.layers.Layer.load_own_variables(self, store)

    def _filter_norms(kernel):
        return ops.maximum(ops.sqrt(ops.sum(ops.square(kernel), axis=(0, 1, 2))), 1e-12)

    _LAYERS["WeightNormConv2D"] = WeightNormConv2D
    return WeightNormConv2D
