"""SRGAN's discriminator (Ledig et al. 2017, "Photo-Realistic Single Image Super-Resolution Using a
Generative Adversarial Network", figure 4): is this HR patch a photo or a super-resolved one?

Eight 3x3 convolutions with LeakyReLU(0.2), strides alternating 1 and 2, features doubling from
`features` to 8 * `features` every two convolutions, batch norm after all but the first; then a
1024-unit dense layer, LeakyReLU, and one logit (no sigmoid: the losses take logits). The patch side is
fixed by the dense layer. Pixels go in in [0, 255] and are scaled to [-1, 1] inside.
"""
from __future__ import annotations


def SRGANDiscriminator(patch: int = 96, features: int = 64, dense: int = 1024, name: str | None = None):
    """Build the discriminator for (batch, patch, patch, 3) RGB patches in [0, 255]; output (batch, 1)
    logits, float32 under any precision policy."""
    import keras

    inputs = keras.Input(shape=(patch, patch, 3), name="hr")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="scale")(inputs)
    for i in range(8):
        width, stride = features * 2 ** (i // 2), 1 + i % 2
        x = keras.layers.Conv2D(width, 3, strides=stride, padding="same", name=f"conv{i + 1}")(x)
        if i:
            x = keras.layers.BatchNormalization(momentum=0.8, name=f"bn{i + 1}")(x)
        x = keras.layers.LeakyReLU(0.2, name=f"lrelu{i + 1}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(dense, name="dense")(x)
    x = keras.layers.LeakyReLU(0.2, name="dense_lrelu")(x)
    outputs = keras.layers.Dense(1, name="logit", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=name or f"srgan_discriminator_{patch}")
