"""dlib's face-recognition ResNet (dlib_face_recognition_resnet_model_v1) rebuilt in Keras.

The network maps a 150x150 RGB face chip (values 0..255) to a 128-D embedding; two faces are the same
person when their embeddings are closer than 0.6. Layout, from dlib's `dnn_face_recognition_ex.cpp`
and checked against the weights file by `visiontk.face.dlib_format.residual_plan`:

    conv 7x7/2 (32), affine, relu, max-pool 3x3/2
    residual blocks (conv 3x3, affine, relu, conv 3x3, affine, + shortcut, relu):
        32 x3, 64 x4, 128 x3, 256 x3, 256 x1; the first block of each later stage is strided by 2,
        its shortcut average-pooled 2x2/2 and zero-padded in channels
    global average pool, fully-connected 128 without bias

dlib's strided layers use no padding and its addition zero-extends the smaller tensor at the bottom and
right, so the 8x8 -> 3x3 (conv) vs 4x4 (pool) mismatch of the fourth stage is reproduced exactly.
`Affine` (a per-channel scale and shift, dlib's inference-time batch norm) replaces batch
normalisation; `normalization="batch"` builds the same network with BatchNormalization, to train.
"""
from __future__ import annotations

import keras
from keras import layers, ops

from visiontk.weights import load_into

INPUT_SIZE = 150
EMBEDDING_SIZE = 128
# (filters, blocks, stride of the first block), bottom-up.
DLIB_FACE_STAGES = ((32, 3, 1), (64, 4, 2), (128, 3, 2), (256, 3, 2), (256, 1, 2))
# dlib's input layer subtracts these RGB means, then divides by 256.
DLIB_INPUT_MEAN = (122.782, 117.001, 104.298)


@keras.saving.register_keras_serializable(package="visiontk")
class Affine(layers.Layer):
    """y = x * gamma + beta, one gamma and beta per channel."""

    def build(self, input_shape):
        channels = input_shape[-1]
        self.gamma = self.add_weight(shape=(channels,), initializer="ones", name="gamma")
        self.beta = self.add_weight(shape=(channels,), initializer="zeros", name="beta")

    def call(self, x):
        return x * self.gamma + self.beta


@keras.saving.register_keras_serializable(package="visiontk")
class ZeroExtendAdd(layers.Layer):
    """Add two NHWC tensors of possibly different sizes, zero-extending each to the larger height,
    width and channel count at the bottom, right and end (dlib's `add_prev`)."""

    def call(self, inputs):
        a, b = inputs
        target = [max(a.shape[i], b.shape[i]) for i in (1, 2, 3)]
        return self._extend(a, target) + self._extend(b, target)

    @staticmethod
    def _extend(x, target):
        pads = [[0, 0]] + [[0, t - s] for s, t in zip(x.shape[1:], target)]
        return ops.pad(x, pads) if any(p[1] for p in pads) else x

    def compute_output_shape(self, input_shapes):
        a, b = input_shapes
        return (a[0],) + tuple(max(x, y) for x, y in zip(a[1:], b[1:]))


def _norm(normalization: str, name: str) -> layers.Layer:
    if normalization == "batch":
        return layers.BatchNormalization(epsilon=1e-5, name=name)
    return Affine(name=name)


def residual_block(x, filters: int, stride: int, normalization: str, name: str):
    """conv-norm-relu-conv-norm plus the shortcut, then relu. A strided block pools its shortcut."""
    padding = "same" if stride == 1 else "valid"
    y = layers.Conv2D(filters, 3, strides=stride, padding=padding, name=f"{name}_conv1")(x)
    y = _norm(normalization, f"{name}_norm1")(y)
    y = layers.ReLU(name=f"{name}_relu1")(y)
    y = layers.Conv2D(filters, 3, padding="same", name=f"{name}_conv2")(y)
    y = _norm(normalization, f"{name}_norm2")(y)
    shortcut = x
    if stride != 1:
        shortcut = layers.AveragePooling2D(2, strides=stride, name=f"{name}_pool")(x)
    y = ZeroExtendAdd(name=f"{name}_add")([y, shortcut])
    return layers.ReLU(name=f"{name}_out")(y)


def DlibFaceResNet(stages=DLIB_FACE_STAGES, embedding_size: int = EMBEDDING_SIZE,
                   input_mean=DLIB_INPUT_MEAN, normalization: str = "affine",
                   name: str = "dlib_face_resnet", weights=None) -> keras.Model:
    """The embedding network: (N, 150, 150, 3) RGB in 0..255 -> (N, embedding_size)."""
    inputs = keras.Input((INPUT_SIZE, INPUT_SIZE, 3), name="chip")
    x = layers.Rescaling(1 / 256, offset=[-m / 256 for m in input_mean], name="input_scale")(inputs)
    x = layers.Conv2D(32, 7, strides=2, padding="valid", name="stem_conv")(x)
    x = _norm(normalization, "stem_norm")(x)
    x = layers.ReLU(name="stem_relu")(x)
    x = layers.MaxPooling2D(3, strides=2, name="stem_pool")(x)
    for stage, (filters, blocks, stride) in enumerate(stages, start=1):
        for block in range(blocks):
            x = residual_block(x, filters, stride if block == 0 else 1, normalization,
                               name=f"stage{stage}_block{block + 1}")
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = layers.Dense(embedding_size, use_bias=False, name="embedding")(x)
    return load_into(keras.Model(inputs, outputs, name=name), weights)


def stage_plan(stages=DLIB_FACE_STAGES) -> list[tuple[int, int]]:
    """The residual blocks as (filters, stride), bottom-up, to compare with a weights file."""
    return [(filters, stride if block == 0 else 1)
            for filters, blocks, stride in stages for block in range(blocks)]
