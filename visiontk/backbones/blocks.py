"""Small convolutional building blocks shared by the network builders (EDSR, face networks, ...).

Functions take and return Keras tensors, in the style of `keras.applications`: each call adds named
layers to the graph. Nothing here imports TensorFlow at module level; the layers are made on first use.
"""
from __future__ import annotations

from typing import Any

_LAYERS: dict[str, Any] = {}


def conv3x3(x, filters: int, name: str, activation: str | None = None, dtype: str | None = None):
    """A 3x3 'same' convolution with bias (the only convolution EDSR uses)."""
    import keras

    return keras.layers.Conv2D(filters, 3, padding="same", activation=activation, name=name, dtype=dtype)(x)


def residual_block(x, filters: int, name: str, scaling: float | None = None):
    """conv-ReLU-conv plus the input, without batch norm; `scaling` damps the residual (EDSR)."""
    import keras

    residual = conv3x3(x, filters, f"{name}_conv1", activation="relu")
    residual = conv3x3(residual, filters, f"{name}_conv2")
    if scaling:
        residual = keras.layers.Rescaling(scaling, name=f"{name}_scale")(residual)
    return keras.layers.Add(name=f"{name}_add")([x, residual])


def pixel_shuffle(x, factor: int, name: str):
    """Rearrange (H, W, C*f*f) into (H*f, W*f, C): sub-pixel upsampling (Shi et al. 2016)."""
    return layer_classes()["PixelShuffle"](factor, name=name)(x)


def mean_shift(x, mean, scale: float, inverse: bool, name: str, dtype: str | None = None):
    """(x - mean) / scale, or its inverse x * scale + mean: per-channel normalisation inside the model."""
    return layer_classes()["MeanShift"](list(map(float, mean)), scale, inverse, name=name, dtype=dtype)(x)


def layer_classes() -> dict[str, Any]:
    """The custom Keras layers of this module, defined once (they need Keras, imported lazily)."""
    if _LAYERS:
        return _LAYERS
    import keras
    from visiontk.runtime import tensorflow

    tf = tensorflow()

    @keras.saving.register_keras_serializable(package="visiontk")
    class PixelShuffle(keras.layers.Layer):
        def __init__(self, factor: int, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, inputs):
            return tf.nn.depth_to_space(inputs, self.factor)

        def compute_output_shape(self, input_shape):
            b, h, w, c = input_shape
            f = self.factor
            return (b, None if h is None else h * f, None if w is None else w * f, c // (f * f))

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    @keras.saving.register_keras_serializable(package="visiontk")
    class MeanShift(keras.layers.Layer):
        def __init__(self, mean, scale: float, inverse: bool = False, **kwargs):
            super().__init__(**kwargs)
            self.mean, self.scale, self.inverse = list(mean), float(scale), bool(inverse)

        def call(self, inputs):
            mean = tf.constant(self.mean, dtype=inputs.dtype)
            if self.inverse:
                return inputs * self.scale + mean
            return (inputs - mean) / self.scale

        def get_config(self):
            return {**super().get_config(), "mean": self.mean, "scale": self.scale, "inverse": self.inverse}

    @keras.saving.register_keras_serializable(package="visiontk")
    class ReflectionPad(keras.layers.Layer):
        """Pad height and width by mirroring the border (no zero frame for a convolution to see)."""

        def __init__(self, pad: int, **kwargs):
            super().__init__(**kwargs)
            self.pad = int(pad)

        def call(self, inputs):
            p = self.pad
            return tf.pad(inputs, [[0, 0], [p, p], [p, p], [0, 0]], mode="REFLECT")

        def compute_output_shape(self, input_shape):
            b, h, w, c = input_shape
            grow = 2 * self.pad
            return (b, None if h is None else h + grow, None if w is None else w + grow, c)

        def get_config(self):
            return {**super().get_config(), "pad": self.pad}

    _LAYERS.update(PixelShuffle=PixelShuffle, MeanShift=MeanShift, ReflectionPad=ReflectionPad)
    return _LAYERS
