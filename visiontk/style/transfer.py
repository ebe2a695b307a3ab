"""Gatys et al. neural style transfer: optimise the pixels of an image so that its VGG features match a
photo at a deep layer and its Gram matrices match one or more paintings at several layers.

What makes it fast: the targets (the photo's features and the paintings' Gram matrices) are computed
once, so each step runs VGG on one image only; L-BFGS needs far fewer steps than gradient descent; and
the work starts at half size, whose result seeds the full-size run (coarse-to-fine).
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from visiontk import runtime
from visiontk.errors import BadInputError, VisiontkError, WeightsError
from visiontk.imageio import read_image, resize as resize_image
from visiontk.style import color, losses, optimize

log = logging.getLogger("visiontk")

BACKBONES = ("vgg19", "vgg16")
DEFAULT_BACKBONE = "vgg19"
DEFAULT_CONTENT_LAYERS = ("block4_conv2",)
DEFAULT_STYLE_LAYERS = ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1")
DEFAULT_CONTENT_WEIGHT = 1.0
DEFAULT_STYLE_WEIGHT = 1e-3
DEFAULT_TV_WEIGHT = 1e-2
DEFAULT_SIZE = 512
DEFAULT_SCALES = 2
INITS = ("content", "noise", "style")
# L-BFGS iterations at the finest scale and at each coarser one: the coarse scales are cheap (a quarter
# of the pixels each) and do most of the work; the full-size pass only adds detail.
DEFAULT_ITERATIONS = {"lbfgs": (40, 80), "adam": (100, 200)}
MIN_INPUT_SIDE = 16      # smaller inputs carry no usable texture or content: rejected
MIN_WORKING_SIDE = 32    # no scale is optimised below this (block5 would have 2x2 positions)
WRAP = 64                # with `tileable`, how far at most the optimised image is seen past its edges

Image_ = np.ndarray | str | os.PathLike
OnSave = Callable[[np.ndarray, int, int], None]


@dataclass
class ScaleReport:
    """What one scale of the coarse-to-fine run did."""

    width: int
    height: int
    iterations: int
    seconds: float
    loss: float
    content_loss: float
    style_loss: float
    tv_loss: float


@dataclass
class StyleResult:
    image: np.ndarray                       # (H, W, 3) uint8
    scales: list[ScaleReport] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return sum(s.seconds for s in self.scales)


def default_iterations(optimizer: str, scales: int) -> tuple[int, ...]:
    """Iterations per scale, coarsest first."""
    fine, coarse = DEFAULT_ITERATIONS[optimizer]
    return (coarse,) * (scales - 1) + (fine,)


def scale_sizes(width: int, height: int, size: int, scales: int) -> list[tuple[int, int]]:
    """(width, height) of each scale, coarsest first: the long side halves from `size` down; scales
    whose short side would fall under MIN_WORKING_SIDE are left out."""
    sizes = []
    for level in reversed(range(scales)):
        long_side = size / 2 ** level
        factor = long_side / max(width, height)
        scaled = (max(1, round(width * factor)), max(1, round(height * factor)))
        if min(scaled) >= MIN_WORKING_SIDE or level == 0:
            sizes.append(scaled)
    return sizes


def resize(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bicubic resize of float pixels (H, W, C) to (width, height), kept in [0, 255]."""
    if array.shape[1::-1] == tuple(size):
        return array.astype(np.float32)
    return np.clip(resize_image(array.astype(np.float32), size), 0.0, 255.0)


def load_input(image: Image_, role: str) -> np.ndarray:
    """An RGB uint8 array from a path or an array, checked to be large enough to stylize."""
    name = str(image) if isinstance(image, (str, os.PathLike)) else role
    rgb = read_image(image) if isinstance(image, (str, os.PathLike)) else np.asarray(image)
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[..., None], 3, axis=2)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise BadInputError(f"{name}: expected an RGB image, got an array of shape {rgb.shape}")
    height, width = rgb.shape[:2]
    if min(height, width) < MIN_INPUT_SIDE:
        raise BadInputError(f"{name}: image is {width}x{height} pixels; the {role} must be at least "
                            f"{MIN_INPUT_SIDE} px on each side (use a larger image)")
    return rgb.astype(np.uint8)


# `auto` -> bfloat16 where the hardware computes it natively (`runtime.bfloat16_is_fast`). The pixels,
# losses, Gram matrices and the optimiser stay in float32 either way. Both names are imported from here
# by style.training and style.model.
resolve_precision = runtime.resolve_precision
keras_policy = runtime.keras_policy


def vgg_channels(layer: str) -> int:
    """The number of channels of a VGG convolution layer (the same in VGG16 and VGG19)."""
    return {1: 64, 2: 128, 3: 256, 4: 512, 5: 512}[int(layer[len("block")])]


def blend_weights(blend: Sequence[float] | None, count: int) -> np.ndarray:
    """Style mixing weights, normalised to sum to 1 (equal by default)."""
    if blend is None:
        return np.full(count, 1.0 / count)
    weights = np.asarray(blend, dtype=np.float64)
    if weights.shape != (count,):
        raise VisiontkError(f"`style_blend` has {weights.size} weights for {count} styles: give one per style")
    if np.any(weights < 0) or weights.sum() <= 0:
        raise VisiontkError("`style_blend` weights must be non-negative and not all zero")
    return weights / weights.sum()


class Stylizer:
    """The style side of a transfer, prepared once and applied to any number of photos.

    The paintings' Gram targets are computed once per working size and kept, so a batch of photos
    (which all share the result's long side) pays for them once. With `preserve_color` they depend on
    the photo's luminance statistics, so they are recomputed for each photo.
    """

    def __init__(self, styles: Sequence[Image_] | Image_, *, backbone: str = DEFAULT_BACKBONE,
                 content_layers: Sequence[str] = DEFAULT_CONTENT_LAYERS,
                 style_layers: Sequence[str] = DEFAULT_STYLE_LAYERS,
                 content_weight: float = DEFAULT_CONTENT_WEIGHT, style_weight: float = DEFAULT_STYLE_WEIGHT,
                 tv_weight: float = DEFAULT_TV_WEIGHT, style_blend: Sequence[float] | None = None,
                 style_scale: float = 1.0, preserve_color: bool = False, precision: str = "auto",
                 tileable: bool = False) -> None:
        if isinstance(styles, (str, os.PathLike, np.ndarray)):
            styles = [styles]
        if not styles:
            raise VisiontkError("give at least one style image")
        if style_scale <= 0:
            raise VisiontkError(f"`style_scale` must be positive, got {style_scale}")
        if not content_layers or not style_layers:
            raise VisiontkError("give at least one content layer and one style layer")
        self.styles = [load_input(s, f"style image {i + 1}") for i, s in enumerate(styles)]
        self.blend = blend_weights(style_blend, len(self.styles))
        self.style_scale = style_scale
        self.preserve_color = preserve_color
        self.content_layers = tuple(content_layers)
        self.style_layers = tuple(style_layers)
        self.weights = (float(content_weight), float(style_weight), float(tv_weight))
        self.channels = 1 if preserve_color else 3
        if tileable and content_weight:
            raise VisiontkError("tileable results are for texture synthesis: set the content weight to 0")
        self.tileable = tileable
        from visiontk.backbones.vgg import vgg_extractor

        self.precision = resolve_precision(precision)
        layers = list(dict.fromkeys(self.content_layers + self.style_layers))
        try:
            with keras_policy("mixed_bfloat16" if self.precision == "bfloat16" else "float32"):
                self.extractor = vgg_extractor(backbone, layers)
        except WeightsError as exc:
            other = "vgg16" if backbone == "vgg19" else "vgg19"
            raise WeightsError(f"{exc}; or use the other network, `backbone` {other}") from None
        self._objective = self._build_objective()
        tf = runtime.tensorflow()
        self._extract = tf.function(lambda image: self._float32(self.extractor(self._as_rgb(image)[None])),
                                    input_signature=[tf.TensorSpec((None, None, self.channels), tf.float32)])
        self._style_targets: dict[tuple, list] = {}

    # -- the network side ------------------------------------------------------------------------------
    def _build_objective(self):
        tf = runtime.tensorflow()
        extractor, content_layers, style_layers = self.extractor, self.content_layers, self.style_layers
        content_weight, style_weight, tv_weight = self.weights

        # One trace for every image size: the spatial dimensions are left open.
        signature = (tf.TensorSpec((None, None, self.channels), tf.float32),
                     [tf.TensorSpec((1, None, None, vgg_channels(name)), tf.float32) for name in content_layers],
                     [tf.TensorSpec((vgg_channels(name),) * 2, tf.float32) for name in style_layers])

        @tf.function(input_signature=signature)
        def objective(image, content_targets, style_targets):
            with tf.GradientTape() as tape:
                tape.watch(image)
                seen = self._wrapped(image)
                features = self._float32(extractor(self._as_rgb(seen)[None]))
                # Texture synthesis has no content term (and, tileable, features of another shape).
                content = tf.add_n([losses.content_loss(features[name], target)
                                    for name, target in zip(content_layers, content_targets)]) \
                    if content_weight else tf.constant(0.0)
                style = tf.add_n([losses.style_loss(losses.gram_matrix(features[name]), target)
                                  for name, target in zip(style_layers, style_targets)])
                content = content / len(content_layers)
                style = style / len(style_layers)
                tv = losses.total_variation_loss(seen)
                loss = content_weight * content + style_weight * style + tv_weight * tv
            return loss, tape.gradient(loss, image), tf.stack([content, style, tv])

        return objective

    def _wrapped(self, image):
        """With `tileable`, the image with its first rows and columns appended after its last (a quarter
        of each side, at most WRAP pixels): the network sees the seams where copies meet, so the
        optimisation makes them continue the texture. Content features then have the padded size, which
        only a zero content weight (texture synthesis) makes harmless."""
        if not self.tileable:
            return image
        tf = runtime.tensorflow()
        rows = tf.minimum(WRAP, tf.shape(image)[0] // 4)
        image = tf.concat([image, image[:rows]], axis=0)
        columns = tf.minimum(WRAP, tf.shape(image)[1] // 4)
        return tf.concat([image, image[:, :columns]], axis=1)

    @staticmethod
    def _float32(features: dict) -> dict:
        """Losses and Gram matrices are summed in float32 whatever precision VGG ran in."""
        tf = runtime.tensorflow()
        return {name: tf.cast(value, tf.float32) for name, value in features.items()}

    def _as_rgb(self, image):
        tf = runtime.tensorflow()
        return image if self.channels == 3 else tf.repeat(image, 3, axis=-1)

    def _features(self, image: np.ndarray) -> dict:
        tf = runtime.tensorflow()
        return self._extract(tf.constant(image, tf.float32))

    def style_targets(self, long_side: int, content_y: np.ndarray | None = None) -> list:
        """The blended Gram matrix of each style layer, for a result whose long side is `long_side`."""
        key = (long_side,) if content_y is None else (long_side, float(content_y.mean()), float(content_y.std()))
        if key not in self._style_targets:
            grams = None
            for style, weight in zip(self.styles, self.blend):
                if weight == 0:
                    continue
                features = self._features(self._style_at(style, long_side, content_y))
                layer_grams = [weight * losses.gram_matrix(features[name]) for name in self.style_layers]
                grams = layer_grams if grams is None else [a + b for a, b in zip(grams, layer_grams)]
            self._style_targets[key] = grams
        return self._style_targets[key]

    def _style_at(self, style: np.ndarray, long_side: int, content_y: np.ndarray | None) -> np.ndarray:
        """The style image as the network sees it: its long side `style_scale` × the result's (enlarged
        if needed so the short side reaches MIN_WORKING_SIDE), in luminance if colour is preserved."""
        height, width = style.shape[:2]
        factor = max(self.style_scale * long_side / max(height, width), MIN_WORKING_SIDE / min(height, width))
        size = (max(1, round(width * factor)), max(1, round(height * factor)))
        scaled = resize(style.astype(np.float32), size)
        if content_y is None:
            return scaled
        return color.match_luminance(color.luminance(scaled), content_y)

    # -- the optimisation ------------------------------------------------------------------------------
    def __call__(self, content: Image_, *, size: int = DEFAULT_SIZE, scales: int = DEFAULT_SCALES,
                 iterations: Sequence[int] | int | None = None, optimizer: str = "lbfgs",
                 learning_rate: float | None = None, init: str | np.ndarray = "content", seed: int | None = None,
                 save_every: int = 0, on_save: OnSave | None = None) -> StyleResult:
        """Stylize one photo; the result's long side is `size` pixels."""
        if optimizer not in optimize.OPTIMIZERS:
            raise VisiontkError(f"unknown optimizer {optimizer!r}: use {' or '.join(optimize.OPTIMIZERS)}")
        if not isinstance(init, np.ndarray) and init not in INITS:
            raise VisiontkError(f"unknown init {init!r}: use {', '.join(INITS)}")
        if size < MIN_WORKING_SIDE or scales < 1:
            raise VisiontkError(f"`size` must be at least {MIN_WORKING_SIDE} and `scales` at least 1")
        photo = load_input(content, "content image")
        sizes = scale_sizes(photo.shape[1], photo.shape[0], size, scales)
        steps = self._iterations_per_scale(iterations, optimizer, len(sizes))
        seed = runtime.settings.seed if seed is None else seed
        rng = np.random.default_rng(seed)
        result, x = StyleResult(image=photo), None
        for index, (scale_size, scale_steps) in enumerate(zip(sizes, steps)):
            started = time.perf_counter()
            photo_here = resize(photo.astype(np.float32), scale_size)
            targets = self._targets(photo_here)
            # The first scale starts from `init`; each later one from the previous result, enlarged.
            x = self._initial(init, *targets[:2], rng) if x is None else resize(x, scale_size)

            def snapshot(pixels: np.ndarray, iteration: int) -> None:
                if on_save is not None and save_every and iteration % save_every == 0:
                    on_save(self._picture(pixels, photo_here), index, iteration)

            x, best, done = self._optimise(x, targets[2:], scale_steps, optimizer, learning_rate, snapshot,
                                           f"stylize {index + 1}/{len(sizes)} {scale_size[0]}x{scale_size[1]}")
            result.scales.append(ScaleReport(*scale_size, done, time.perf_counter() - started, best["loss"],
                                             *(float(t) for t in best["terms"])))
            result.image = self._picture(x, photo_here)
            log.info("scale %d/%d %dx%d: %d iterations, loss %.4g, %.1f s", index + 1, len(sizes),
                     *scale_size, done, best["loss"], result.scales[-1].seconds)
        return result

    def _optimise(self, x: np.ndarray, targets: tuple, iterations: int, optimizer: str,
                  learning_rate: float | None, after_iteration: Callable, description: str) -> tuple:
        """Run the optimiser at one scale from pixels `x`, with a progress bar showing the loss.
        Returns the pixels, the lowest loss evaluated and its terms, and the iterations done."""
        tf = runtime.tensorflow()
        shape, (content_targets, style_targets) = x.shape, targets
        best = {"loss": np.inf, "terms": np.zeros(3)}

        def evaluate(flat: np.ndarray) -> tuple[float, np.ndarray]:
            loss, grad, terms = self._objective(tf.constant(flat.reshape(shape), tf.float32),
                                                content_targets, style_targets)
            loss = float(loss)
            if loss < best["loss"]:
                best.update(loss=loss, terms=terms.numpy())
            return loss, grad.numpy().ravel()

        done = 0
        with runtime.progress(total=iterations, unit="it", desc=description) as bar:
            def on_iteration(iteration: int, flat: np.ndarray, loss: float) -> None:
                nonlocal done
                done = iteration
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.4g}", refresh=False)
                after_iteration(flat.reshape(shape), iteration)

            if optimizer == "lbfgs":
                x = optimize.lbfgs(evaluate, x.ravel(), iterations, on_iteration)
            else:
                x = optimize.adam(evaluate, x.ravel(), iterations, on_iteration,
                                  learning_rate or optimize.DEFAULT_LEARNING_RATE[optimizer])
        return x.reshape(shape), best, done

    def _targets(self, photo_here: np.ndarray) -> tuple:
        """For the photo at a working size: the image the network compares with (the photo, or its
        luminance), that luminance (or None), the content targets and the style targets."""
        content_y = color.luminance(photo_here) if self.preserve_color else None
        target_image = photo_here if content_y is None else content_y
        content_features = self._features(target_image)
        content_targets = [content_features[name] for name in self.content_layers]
        return target_image, content_y, content_targets, self.style_targets(max(photo_here.shape[:2]), content_y)

    def measure(self, content: Image_, image: np.ndarray) -> dict[str, float]:
        """The objective's terms for `image` (an RGB result) against `content` at the image's size."""
        tf = runtime.tensorflow()
        size = (image.shape[1], image.shape[0])
        photo_here = resize(load_input(content, "content image").astype(np.float32), size)
        _, content_y, content_targets, style_targets = self._targets(photo_here)
        x = image.astype(np.float32) if content_y is None else color.luminance(image).astype(np.float32)
        loss, _, terms = self._objective(tf.constant(x), content_targets, style_targets)
        return {"loss": float(loss), "content_loss": float(terms[0]), "style_loss": float(terms[1]),
                "tv_loss": float(terms[2])}

    def _iterations_per_scale(self, iterations, optimizer: str, count: int) -> tuple[int, ...]:
        if iterations is None:
            return default_iterations(optimizer, count)
        if isinstance(iterations, int):
            return (iterations,) * count
        iterations = tuple(int(i) for i in iterations)
        if len(iterations) == 1:
            return iterations * count
        if len(iterations) > count:  # scales too small to work at were left out: they are the coarsest
            return iterations[-count:]
        if len(iterations) != count:
            raise VisiontkError(f"`iterations` lists {len(iterations)} values for {count} scales")
        return iterations

    def _initial(self, init: str | np.ndarray, target_image: np.ndarray, content_y, rng) -> np.ndarray:
        height, width = target_image.shape[:2]
        if isinstance(init, np.ndarray):  # an RGB picture to start from (a video's previous result, warped)
            start = resize(init.astype(np.float32), (width, height))
            return start if content_y is None else color.luminance(start).astype(np.float32)
        if init == "content":
            return target_image.astype(np.float32)
        if init == "noise":
            noise = rng.normal(127.5, 40.0, size=(height, width, self.channels))
            return np.clip(noise, 0, 255).astype(np.float32)
        # init == "style": the most heavily blended style, stretched to the photo's frame.
        style = resize(self.styles[int(np.argmax(self.blend))].astype(np.float32), (width, height))
        return style if content_y is None else color.match_luminance(color.luminance(style), content_y)

    def _picture(self, x: np.ndarray, photo_here: np.ndarray) -> np.ndarray:
        """The optimised pixels as an RGB uint8 image (luminance recombined with the photo's colours)."""
        rgb = x if self.channels == 3 else color.with_chrominance(x, photo_here)
        return np.clip(np.round(rgb), 0, 255).astype(np.uint8)


def stylize(content: Image_, style: Sequence[Image_] | Image_, *, size: int = DEFAULT_SIZE,
            scales: int = DEFAULT_SCALES, iterations: Sequence[int] | int | None = None,
            optimizer: str = "lbfgs", learning_rate: float | None = None, init: str = "content",
            seed: int | None = None, backbone: str = DEFAULT_BACKBONE,
            content_layers: Sequence[str] = DEFAULT_CONTENT_LAYERS,
            style_layers: Sequence[str] = DEFAULT_STYLE_LAYERS,
            content_weight: float = DEFAULT_CONTENT_WEIGHT, style_weight: float = DEFAULT_STYLE_WEIGHT,
            tv_weight: float = DEFAULT_TV_WEIGHT, style_blend: Sequence[float] | None = None,
            style_scale: float = 1.0, preserve_color: bool = False, precision: str = "auto") -> np.ndarray:
    """Paint `content` (a path or an RGB array) in the style of `style` (one or several, mixed by
    `style_blend`); returns the result as an (H, W, 3) uint8 array whose long side is `size`."""
    stylizer = Stylizer(style, backbone=backbone, content_layers=content_layers, style_layers=style_layers,
                        content_weight=content_weight, style_weight=style_weight, tv_weight=tv_weight,
                        style_blend=style_blend, style_scale=style_scale, preserve_color=preserve_color,
                        precision=precision)
    return stylizer(content, size=size, scales=scales, iterations=iterations, optimizer=optimizer,
                    learning_rate=learning_rate, init=init, seed=seed).image
