"""DCGAN generator and discriminator (Radford, Metz & Chintala, 2015).

Generator: project the latent vector to a small feature map, then transposed convolutions that double
the size, with batch norm and ReLU, ending in tanh (no batch norm on the output). Discriminator:
strided convolutions with LeakyReLU(0.2) and batch norm (none on the input layer), ending in one logit.
Weights start from N(0, 0.02). The depth follows the image size: 28 = 7 -> 14 -> 28, 32 = 4 -> ... -> 32,
64 = 4 -> ... -> 64.
"""
from __future__ import annotations

from visiontk import runtime
from visiontk.errors import VisiontkError
from visiontk.weights import load_into

IMAGE_SIZES = {28: (7, 2), 32: (4, 3), 64: (4, 4)}  # size -> (first feature map side, doublings)
KERNEL = 4


def dcgan_depth(image_size: int) -> tuple[int, int]:
    if image_size not in IMAGE_SIZES:
        raise VisiontkError(f"image size {image_size} not supported: use {', '.join(map(str, IMAGE_SIZES))}")
    return IMAGE_SIZES[image_size]


def _init():
    import keras

    return keras.initializers.RandomNormal(mean=0.0, stddev=0.02)


def _batch_norm(name: str):
    import keras

    # The paper's BN scale starts from N(1, 0.02). Synchronized: on several replicas the statistics are
    # those of the whole global batch, so a distributed run trains the same networks as one device.
    return keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=name, synchronized=True,
                                           gamma_initializer=keras.initializers.RandomNormal(1.0, 0.02))


def dcgan_generator(image_size: int = 64, channels: int = 3, latent_dim: int = 100, width: int = 64,
                    weights=None):
    """Latent vector (latent_dim,) -> image (image_size, image_size, channels) in [-1, 1]."""
    runtime.tensorflow()
    import keras
    from keras import layers

    side, doublings = dcgan_depth(image_size)
    filters = width * 2 ** (doublings - 1)
    z = keras.Input((latent_dim,), name="latent")
    x = layers.Dense(side * side * filters, use_bias=False, kernel_initializer=_init(), name="project")(z)
    x = layers.Reshape((side, side, filters), name="reshape")(x)
    x = _batch_norm("project_bn")(x)
    x = layers.ReLU(name="project_relu")(x)
    for block in range(1, doublings):
        filters //= 2
        x = layers.Conv2DTranspose(filters, KERNEL, strides=2, padding="same", use_bias=False,
                                   kernel_initializer=_init(), name=f"up{block}_deconv")(x)
        x = _batch_norm(f"up{block}_bn")(x)
        x = layers.ReLU(name=f"up{block}_relu")(x)
    x = layers.Conv2DTranspose(channels, KERNEL, strides=2, padding="same", kernel_initializer=_init(),
                               name="output_deconv")(x)
    image = layers.Activation("tanh", name="output_tanh", dtype="float32")(x)
    return load_into(keras.Model(z, image, name=f"dcgan_generator_{image_size}"), weights)


def dcgan_discriminator(image_size: int = 64, channels: int = 3, width: int = 64, weights=None):
    """Image in [-1, 1] -> one logit (real > 0 > fake)."""
    runtime.tensorflow()
    import keras
    from keras import layers

    _, doublings = dcgan_depth(image_size)
    image = keras.Input((image_size, image_size, channels), name="image")
    x = image
    for block in range(doublings):
        x = layers.Conv2D(width * 2 ** block, KERNEL, strides=2, padding="same", use_bias=block == 0,
                          kernel_initializer=_init(), name=f"down{block + 1}_conv")(x)
        if block > 0:  # no batch norm on the input layer
            x = _batch_norm(f"down{block + 1}_bn")(x)
        x = layers.LeakyReLU(0.2, name=f"down{block + 1}_lrelu")(x)
    x = layers.Flatten(name="flatten")(x)
    logit = layers.Dense(1, kernel_initializer=_init(), name="logit", dtype="float32")(x)
    return load_into(keras.Model(image, logit, name=f"dcgan_discriminator_{image_size}"), weights)
