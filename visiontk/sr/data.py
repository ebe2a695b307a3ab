"""Training data: HR photos decoded once, their bicubic LR made once, and a tf.data pipeline of random
aligned LR/HR patches with flips and 90-degree rotations. With a `Degradation`, each LR patch is instead
made from its HR patch by the random real-world degradation of `visiontk.sr.degrade`.

Every random choice for sample number k comes from stateless RNG ops (and, for the degradation, a NumPy
generator) seeded with (seed, k), so the
batches after a resumed checkpoint are exactly those the uninterrupted run would have drawn, even with
prefetching.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from visiontk.errors import BadInputError
from visiontk.imageio import expand_inputs, read_image
from visiontk.runtime import progress, tensorflow
from visiontk.sr.degrade import (TRAIN_STREAM, VALIDATION_STREAM, Degradation, crop_to_multiple, degrade,
                                 downscale, sample_rng)

# LR pixels of context kept on each side of a patch while it is degraded, so that the blur's and the
# resize filter's borders fall outside the patch (JPEG's 8x8 grid is then offset, as in a cropped photo).
DEGRADE_MARGIN = 4


@dataclass
class Pair:
    path: Path
    hr: np.ndarray  # uint8 (H, W, 3), H and W multiples of the scale
    lr: np.ndarray  # uint8 (H/scale, W/scale, 3)


def find_images(folders: list[Path]) -> list[Path]:
    paths = sorted(expand_inputs([str(f) for f in folders]))
    if not paths:
        raise BadInputError(f"{' '.join(map(str, folders))}: no training images found")
    return paths


def split_validation(paths: list[Path], count: int) -> tuple[list[Path], list[Path]]:
    """Hold out `count` images spread evenly over the sorted list (the same ones on every resume)."""
    if count <= 0:
        return paths, []
    if count >= len(paths):
        raise BadInputError(f"{len(paths)} images: too few to hold out {count} for validation "
                            "(use `val_images` 0 or add images)")
    step = len(paths) / count
    held = {int(i * step + step / 2) for i in range(count)}
    return [p for i, p in enumerate(paths) if i not in held], [p for i, p in enumerate(paths) if i in held]


def load_pairs(paths: list[Path], scale: int, min_lr_size: int = 0, desc: str = "decoding",
               degradation: Degradation | None = None, seed: int = 0) -> list[Pair]:
    """Decode each image once and make its LR with the evaluation's bicubic downscaling, or (validation
    of a real-degradation run) with one fixed draw of `degradation` per image."""
    pairs = []
    for index, path in enumerate(progress(paths, desc=desc, unit="img")):
        hr = crop_to_multiple(read_image(path), scale)
        if min(hr.shape[:2]) // scale < min_lr_size:
            continue  # smaller than one patch
        lr = (downscale(hr, scale) if degradation is None
              else degrade(hr, scale, sample_rng(seed, VALIDATION_STREAM, index), degradation))
        pairs.append(Pair(path, np.ascontiguousarray(hr), lr))
    if not pairs:
        raise BadInputError(f"no training image is large enough for {min_lr_size}px LR patches at x{scale}")
    return pairs


def patch_dataset(pairs: list[Pair], scale: int, patch: int, batch: int, seed: int, first_step: int,
                  last_step: int, degradation: Degradation | None = None):
    """Batches of (lr, hr) float32 patches in [0, 255] for steps first_step..last_step-1; with
    `degradation`, LR patches degraded from their HR patches (images need patch + 2 * DEGRADE_MARGIN LR
    pixels a side)."""
    tf = tensorflow()
    lr_flat, lr_offsets, lr_shapes = _concatenate([p.lr for p in pairs])
    hr_flat, hr_offsets, _ = _concatenate([p.hr for p in pairs])
    lr_flat, hr_flat = tf.constant(lr_flat), tf.constant(hr_flat)
    lr_offsets, hr_offsets = tf.constant(lr_offsets), tf.constant(hr_offsets)
    lr_shapes = tf.constant(lr_shapes)
    count = len(pairs)
    margin = DEGRADE_MARGIN if degradation is not None else 0
    region = patch + 2 * margin

    def degrade_patch(hr_region: np.ndarray, k: np.int64) -> np.ndarray:
        return degrade(hr_region, scale, sample_rng(seed, TRAIN_STREAM, int(k)), degradation)

    def sample(k):
        seeds = tf.random.experimental.stateless_split(tf.stack([tf.cast(seed, tf.int64), k]), 5)
        i = tf.random.stateless_uniform([], seeds[0], 0, count, dtype=tf.int64)
        h, w = lr_shapes[i, 0], lr_shapes[i, 1]
        y = tf.random.stateless_uniform([], seeds[1], 0, h - region + 1, dtype=tf.int64)
        x = tf.random.stateless_uniform([], seeds[2], 0, w - region + 1, dtype=tf.int64)
        hr = tf.reshape(hr_flat[hr_offsets[i]:hr_offsets[i] + h * w * 3 * scale * scale],
                        tf.stack([h * scale, w * scale, 3]))
        if degradation is None:
            lr = tf.reshape(lr_flat[lr_offsets[i]:lr_offsets[i] + h * w * 3], tf.stack([h, w, 3]))
            lr = lr[y:y + patch, x:x + patch]
        else:
            hr = hr[y * scale:(y + region) * scale, x * scale:(x + region) * scale]
            lr = tf.numpy_function(degrade_patch, [hr, k], tf.uint8, stateful=False)
            lr = tf.ensure_shape(lr, [region, region, 3])[margin:margin + patch, margin:margin + patch]
            y = x = tf.constant(margin, tf.int64)
        hr = hr[y * scale:(y + patch) * scale, x * scale:(x + patch) * scale]
        turns = tf.random.stateless_uniform([], seeds[3], 0, 4, dtype=tf.int32)
        flip = tf.random.stateless_uniform([], seeds[4], 0, 2, dtype=tf.int32) > 0
        lr, hr = _augment(tf, lr, turns, flip), _augment(tf, hr, turns, flip)
        lr = tf.ensure_shape(tf.cast(lr, tf.float32), [patch, patch, 3])
        hr = tf.ensure_shape(tf.cast(hr, tf.float32), [patch * scale, patch * scale, 3])
        return lr, hr

    samples = tf.data.Dataset.range(first_step * batch, last_step * batch)
    return (samples.map(sample, num_parallel_calls=2, deterministic=True)
            .batch(batch, drop_remainder=True).prefetch(2))


def _augment(tf, image, turns, flip):
    image = tf.image.rot90(image, turns)
    return tf.cond(flip, lambda: tf.image.flip_left_right(image), lambda: image)


def _concatenate(images: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All images as one flat uint8 vector, with each one's start offset and (H, W)."""
    sizes = np.array([im.size for im in images], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    shapes = np.array([im.shape[:2] for im in images], dtype=np.int64)
    return np.concatenate([im.reshape(-1) for im in images]), offsets, shapes
