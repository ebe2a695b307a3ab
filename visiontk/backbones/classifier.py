"""A small CNN classifier for 28x28 grayscale images (the Fashion-MNIST judge of GAN samples).

Its softmax gives the Inception Score and its penultimate layer (`features`, 128 units) gives the
Fréchet distance, as InceptionV3 does for ImageNet-like images.
"""
from __future__ import annotations

from visiontk import runtime
from visiontk.weights import load_into

FEATURES_LAYER = "features"


def conv_block(x, filters: int, block: int):
    """Two 3x3 convolutions with batch norm, then 2x2 max pooling (and dropout)."""
    from keras import layers

    for i in (1, 2):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"block{block}_conv{i}")(x)
        x = layers.BatchNormalization(name=f"block{block}_bn{i}")(x)
        x = layers.ReLU(name=f"block{block}_relu{i}")(x)
    x = layers.MaxPooling2D(2, name=f"block{block}_pool")(x)
    return layers.Dropout(0.25, name=f"block{block}_dropout")(x)


def small_classifier(input_shape=(28, 28, 1), classes: int = 10, width: int = 32, weights=None):
    """conv(32)x2 - pool - conv(64)x2 - pool - dense(128) `features` - dropout - dense(classes) softmax.

    Input: images in [0, 1].
    """
    runtime.tensorflow()
    import keras
    from keras import layers

    inputs = keras.Input(input_shape, name="image")
    x = conv_block(inputs, width, 1)
    x = conv_block(x, width * 2, 2)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(128, activation="relu", name=FEATURES_LAYER)(x)
    x = layers.Dropout(0.5, name="dropout")(x)
    outputs = layers.Dense(classes, activation="softmax", name="predictions")(x)
    return load_into(keras.Model(inputs, outputs, name="small_classifier"), weights)
