"""The terms of Gatys et al.'s objective, written so that their weights mean the same at every size.

Every term is a mean, not a sum: the Gram matrix is divided by the number of positions and the
content and total-variation terms average over pixels, so a weight tuned at 256 px holds at 1024 px.
"""
from __future__ import annotations

from visiontk import runtime


def gram_matrix(features):
    """Channel correlations of a (1, H, W, C) or (H, W, C) activation, averaged over positions: (C, C)."""
    tf = runtime.tensorflow()
    channels = tf.shape(features)[-1]
    flat = tf.reshape(features, (-1, channels))
    positions = tf.cast(tf.shape(flat)[0], features.dtype)
    return tf.matmul(flat, flat, transpose_a=True) / positions


def gram_matrices(features):
    """gram_matrix of each image of a (B, H, W, C) batch: (B, C, C)."""
    tf = runtime.tensorflow()
    positions = tf.cast(tf.shape(features)[1] * tf.shape(features)[2], features.dtype)
    return tf.einsum("bhwc,bhwd->bcd", features, features) / positions


def style_loss(gram, target_gram):
    """Gatys' E_l with the Gram normalised by positions: mean squared difference of the C×C entries / 4."""
    tf = runtime.tensorflow()
    return tf.reduce_mean(tf.square(gram - target_gram)) / 4.0


def content_loss(features, target_features):
    """Mean squared difference of the activations (a sum in Gatys; a mean keeps it size-free)."""
    tf = runtime.tensorflow()
    return tf.reduce_mean(tf.square(features - target_features))


def total_variation_loss(image):
    """Mean squared difference of neighbouring pixels of an (H, W, C) image or a (B, H, W, C) batch, to
    keep high-frequency noise down."""
    tf = runtime.tensorflow()
    down = image[..., 1:, :, :] - image[..., :-1, :, :]
    across = image[..., :, 1:, :] - image[..., :, :-1, :]
    return tf.reduce_mean(tf.square(down)) + tf.reduce_mean(tf.square(across))
