"""Feed-forward style transfer (Johnson, Alahi & Fei-Fei 2016): a network trained once per painting with
the same perceptual objective as Gatys' method (visiontk.style.losses), which then paints a photo in one
forward pass.

    train(data, run_dir, config)        train (or resume) a network for one painting into a run folder
    export(run_dir, output)             the trained network as a .weights.h5 file
    load_model(name_or_path)            a shipped style by name ("starry-night") or a weights file
    FastStylizer(model)(photo)          paint a photo (path or array); any size
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from visiontk import runtime, training
from visiontk.errors import BadInputError, WeightsError
from visiontk.imageio import expand_inputs, read_image, resize_long_side, write_image
from visiontk.style import color, losses
from visiontk.runtime import keras_policy, resolve_precision
from visiontk.style.transfer import (DEFAULT_CONTENT_LAYERS, DEFAULT_CONTENT_WEIGHT, DEFAULT_STYLE_LAYERS,
                                     DEFAULT_STYLE_WEIGHT, DEFAULT_TV_WEIGHT, load_input, resize)

log = logging.getLogger("visiontk")

STYLE_MODELS = ("starry-night", "the-scream")    # shipped as the registry entries style-NAME
DEFAULT_SIZE = 512          # the long side the shipped styles were trained to paint at


@dataclass
class TrainConfig:
    """The settings of a feed-forward training run (stored in RUN/config.json)."""

    style: str                               # the painting
    data: list[str] = field(default_factory=list)      # folders or files of training photos
    steps: int = 4000
    batch: int = 4
    crop: int = 256                          # side of the random square crops of the photos (the smallest)
    # Each step's crops have one side drawn from crop, crop + 32, ... crop_max (None: always `crop`), so
    # that the strokes the network learns hold across output sizes.
    crop_max: int | None = 512
    learning_rate: float = 1e-3
    content_weight: float = DEFAULT_CONTENT_WEIGHT
    style_weight: float = DEFAULT_STYLE_WEIGHT
    tv_weight: float = DEFAULT_TV_WEIGHT
    style_scale: float = 1.0                 # the painting's long side is style_scale * style_size
    # None: the painting's long side follows each step's crop, as `stylize` ties it to the result's size.
    style_size: int | None = None
    jitter: float = 0.1                      # colour jitter: brightness, contrast and saturation within ±jitter
    backbone: str = "vgg16"
    content_layers: list[str] = field(default_factory=lambda: list(DEFAULT_CONTENT_LAYERS))
    style_layers: list[str] = field(default_factory=lambda: list(DEFAULT_STYLE_LAYERS))
    filters: int = 32
    residual_blocks: int = 5
    precision: str = "auto"
    seed: int = 0
    init_from: str | None = None             # a .weights.h5 of the same network to start from
    samples: list[str] = field(default_factory=list)   # held-out photos drawn every sample_every steps
    sample_every: int = 250
    checkpoint_every: int = 100
    log_every: int = 10

    def crop_sizes(self) -> list[int]:
        """The crop sides a step may draw."""
        top = max(self.crop, self.crop_max or self.crop)
        return list(range(self.crop, top + 1, CROP_STEP)) if top > self.crop else [self.crop]


CROP_STEP = 32      # crop sides differ by multiples of 32 (the network pads to 4; VGG pools to 16)


# What may change when a run is resumed: the schedule, and the balance of the objective (the weights are
# logged with every metrics row, so a run's history shows what each step trained on).
CHANGEABLE = ("steps", "learning_rate", "sample_every", "checkpoint_every", "log_every", "samples",
              "content_weight", "style_weight", "tv_weight")


def config_from(style: str, data: Sequence[str], **settings) -> TrainConfig:
    return training.make_settings(TrainConfig, style=str(style), data=[str(d) for d in data], **settings)


# ---- training ----------------------------------------------------------------------------------------

def read_training_photos(sources: Iterable[str]) -> list[np.ndarray]:
    """Every photo of `sources` as RGB uint8, at its own size."""
    paths = expand_inputs(list(sources))
    if not paths:
        raise BadInputError(f"no training photos found in {' '.join(sources)}")
    return [read_image(path) for path in runtime.progress(paths, desc="reading photos", unit="photo")]


def random_crops(photos: list[np.ndarray], batch: int, crop: int, rng: np.random.Generator,
                 jitter: float = 0.0) -> np.ndarray:
    """`batch` random square crops (randomly mirrored, colour-jittered by up to ±`jitter`) of randomly
    chosen photos, float32 (B, crop, crop, 3). A photo whose short side is under `crop` gives its largest
    square, enlarged."""
    out = np.empty((batch, crop, crop, 3), np.float32)
    for i, index in enumerate(rng.integers(0, len(photos), size=batch)):
        photo = photos[index]
        side = min(crop, *photo.shape[:2])
        top = rng.integers(0, photo.shape[0] - side + 1)
        left = rng.integers(0, photo.shape[1] - side + 1)
        patch = photo[top:top + side, left:left + side]
        if side < crop:
            patch = resize(patch.astype(np.float32), (crop, crop))
        patch = patch[:, ::-1] if rng.random() < 0.5 else patch
        out[i] = _jittered(patch.astype(np.float32), rng.uniform(-jitter, jitter, size=3)) if jitter else patch
    return out


def _jittered(rgb: np.ndarray, amounts: np.ndarray) -> np.ndarray:
    """Brightness, contrast and saturation changed by the relative `amounts`, kept in [0, 255]."""
    brightness, contrast, saturation = 1.0 + amounts
    rgb = rgb * brightness
    rgb = (rgb - rgb.mean()) * contrast + rgb.mean()
    grey = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
    rgb = (rgb - grey[..., None]) * saturation + grey[..., None]
    return np.clip(rgb, 0.0, 255.0)


class _Objective:
    """Gatys' objective for a batch: the content of each photo, the painting's Gram matrices, smoothness."""

    def __init__(self, config: TrainConfig, precision: str) -> None:
        from visiontk.backbones.vgg import vgg_extractor

        self.config = config
        layers = list(dict.fromkeys(config.content_layers + config.style_layers))
        with keras_policy("mixed_bfloat16" if precision == "bfloat16" else "float32"):
            self.vgg = vgg_extractor(config.backbone, layers)
        self.painting = load_input(config.style, "style image").astype(np.float32)
        self._targets: dict[int, list] = {}

    def style_targets(self, crop: int) -> list:
        """The painting's Gram matrices for crops of side `crop` (its long side style_scale times the
        crop's, or times style_size when the run fixes it)."""
        if crop not in self._targets:
            long_side = self.config.style_scale * (self.config.style_size or crop)
            factor = long_side / max(self.painting.shape[:2])
            size = (max(1, round(self.painting.shape[1] * factor)), max(1, round(self.painting.shape[0] * factor)))
            features = self.features(resize(self.painting, size)[None])
            self._targets[crop] = [losses.gram_matrix(features[name]) for name in self.config.style_layers]
        return self._targets[crop]

    def features(self, images) -> dict:
        tf = runtime.tensorflow()
        return {name: tf.cast(value, tf.float32) for name, value in self.vgg(images).items()}

    def __call__(self, photos, painted, style_targets):
        tf = runtime.tensorflow()
        c = self.config
        target = self.features(photos)
        found = self.features(painted)
        content = tf.add_n([losses.content_loss(found[n], target[n]) for n in c.content_layers])
        style = tf.add_n([losses.style_loss(losses.gram_matrices(found[n]), t)
                          for n, t in zip(c.style_layers, style_targets)])
        content /= len(c.content_layers)
        style /= len(c.style_layers)
        tv = losses.total_variation_loss(painted)
        total = c.content_weight * content + c.style_weight * style + c.tv_weight * tv
        return total, content, style, tv


def train(data: Sequence[str], run_dir: str | Path, config: TrainConfig, *, given: Iterable[str] = (),
          on_progress: training.Progress | None = None) -> dict:
    """Train the network for `config.style` on the photos of `data` into `run_dir`, or resume the run
    there (see visiontk.training). Returns the last logged metrics."""
    config = replace(config, data=[str(d) for d in data] or config.data)
    config, resumed = training.prepare_run(run_dir, config, task="stylize", given=given, changeable=CHANGEABLE)
    tf = runtime.tensorflow()
    import keras

    from visiontk.backbones.transformer import StyleTransformer
    from visiontk.style.transfer import vgg_channels

    precision = resolve_precision(config.precision)
    photos = read_training_photos(config.data)
    samples = _sample_photos(config.samples)
    objective = _Objective(config, precision)
    keras.utils.set_random_seed(config.seed % 2**32)
    with keras_policy("mixed_bfloat16" if precision == "bfloat16" else "float32"):
        network = StyleTransformer(config.filters, config.residual_blocks)
    optimizer = keras.optimizers.Adam(config.learning_rate)
    optimizer.build(network.trainable_variables)
    checkpoints = training.Checkpoints(run_dir, network=network, optimizer=optimizer)
    start = checkpoints.restore()
    if start == 0 and config.init_from:
        _warm_start(network, config)
    optimizer.learning_rate.assign(config.learning_rate)
    metrics = training.Metrics(run_dir, start)
    if resumed:
        log.info("resuming %s at step %d of %d", run_dir, start, config.steps)

    # One trace for every crop size: the painting's Gram matrices for the step's crop come in as arguments.
    grams = [tf.TensorSpec((vgg_channels(name),) * 2, tf.float32) for name in config.style_layers]

    @tf.function(input_signature=[tf.TensorSpec((None, None, None, 3), tf.float32), grams])
    def step_on(photos_batch, style_targets):
        with tf.GradientTape() as tape:
            painted = tf.cast(network(photos_batch, training=True), tf.float32)
            total, content, style, tv = objective(photos_batch, painted, style_targets)
        grads = tape.gradient(total, network.trainable_variables)
        optimizer.apply_gradients(zip(grads, network.trainable_variables))
        return total, content, style, tv

    crop_sizes = config.crop_sizes()

    def step(n: int) -> dict:
        rng = training.step_rng(config.seed, n)
        crop = crop_sizes[rng.integers(len(crop_sizes))] if len(crop_sizes) > 1 else crop_sizes[0]
        batch = random_crops(photos, config.batch, crop, rng, config.jitter)
        total, content, style, tv = step_on(tf.constant(batch), objective.style_targets(crop))
        return {"loss": total, "content_loss": content, "style_loss": style, "tv_loss": tv,
                "content_weight": config.content_weight, "style_weight": config.style_weight,
                "tv_weight": config.tv_weight}

    def draw(n: int) -> None:
        _draw_curves(run_dir, metrics)
        if samples is not None:
            _draw_samples(Path(run_dir) / training.SAMPLES / f"step-{n:06d}.jpg", network, samples)

    last = training.train_steps(step, start=start, total=config.steps, checkpoints=checkpoints,
                                metrics=metrics, checkpoint_every=config.checkpoint_every,
                                log_every=config.log_every, on_progress=on_progress,
                                periodic={config.sample_every: draw}, description="stylize train")
    draw(config.steps)
    return last


def _warm_start(network, config: TrainConfig) -> None:
    """Start from the weights of a network of the same shape (e.g. a shipped style, to retrain it)."""
    path = Path(config.init_from)
    if not path.is_file():
        raise BadInputError(f"init_from {path}: no such weights file")
    if network_shape(path) != (config.filters, config.residual_blocks):
        raise BadInputError(f"init_from {path}: a network of another shape (filters, residual blocks "
                            f"{network_shape(path)}, this run {config.filters}, {config.residual_blocks})")
    network.load_weights(str(path))
    log.info("warm start from %s", path)


def _sample_photos(paths: Sequence[str]) -> np.ndarray | None:
    """Held-out photos for the sample sheets, as one batch of 256x256 centre crops."""
    if not paths:
        return None
    crops = []
    for path in expand_inputs(list(paths)):
        rgb = read_image(path)
        rgb = resize_long_side(rgb, int(round(256 * max(rgb.shape[:2]) / min(rgb.shape[:2]))))
        top, left = (rgb.shape[0] - 256) // 2, (rgb.shape[1] - 256) // 2
        crops.append(rgb[top:top + 256, left:left + 256])
    return np.stack(crops).astype(np.float32)


def _draw_samples(path: Path, network, photos: np.ndarray) -> None:
    from visiontk.charts import grid

    painted = np.clip(np.round(network(photos, training=False).numpy()), 0, 255).astype(np.uint8)
    pairs = np.concatenate([photos.astype(np.uint8), painted], axis=0)
    write_image(path, grid(pairs, columns=len(photos)), overwrite=True)


def _draw_curves(run_dir: str | Path, metrics: training.Metrics) -> None:
    from visiontk.charts import line_chart

    panels = {"loss": {"loss": metrics.column("loss")},
              "terms": {name: metrics.column(f"{name}_loss") for name in ("content", "style", "tv")}}
    line_chart(Path(run_dir) / training.CURVES, panels, log_y=("loss", "terms"))


def export(run_dir: str | Path, output: str | Path, overwrite: bool = False) -> Path:
    """Write the trained network's weights (float32) from the run's last checkpoint to `output`."""
    config = training.run_settings(run_dir, TrainConfig, "stylize")
    runtime.tensorflow()
    from visiontk.backbones.transformer import StyleTransformer

    network = StyleTransformer(config.filters, config.residual_blocks)
    checkpoints = training.Checkpoints(run_dir, network=network)
    if checkpoints.restore() == 0:
        raise BadInputError(f"{run_dir}: no checkpoint to export yet")
    if not str(output).endswith(".weights.h5"):
        raise BadInputError(f"{output}: name the weights file NAME.weights.h5")
    return training.save_weights(network, output, overwrite=overwrite)


# ---- painting -----------------------------------------------------------------------------------------

def network_shape(path: str | os.PathLike) -> tuple[int, int]:
    """(filters, residual_blocks) of a transformation network's weights file, read from its kernels."""
    import h5py

    kernels = []
    try:
        with h5py.File(path, "r") as f:
            f.visititems(lambda name, obj: kernels.append(obj.shape)
                         if isinstance(obj, h5py.Dataset) and obj.ndim == 4 else None)
    except OSError as exc:
        raise WeightsError(f"{path}: not a readable weights file ({exc})") from None
    first = [k for k in kernels if k[:3] == (9, 9, 3)]
    blocks, odd = divmod(len(kernels) - 6, 2)
    if not first or odd or blocks < 1:
        raise WeightsError(f"{path}: not the weights of a style transformation network")
    return int(first[0][3]), blocks


def load_model(name_or_path: str | os.PathLike, precision: str = "float32"):
    """The Keras transformation network of a shipped style (see STYLE_MODELS) or of a weights file."""
    from visiontk.weights import resolve

    path = Path(name_or_path)
    if not (path.suffix == ".h5" or path.exists()):
        if str(name_or_path) not in STYLE_MODELS:
            raise WeightsError(f"unknown style model {name_or_path!r}: use {', '.join(STYLE_MODELS)} or a "
                               f".weights.h5 file made by `visiontk stylize train` + `stylize export`")
        path = resolve(f"style-{name_or_path}")
    elif not path.exists():
        raise WeightsError(f"{path}: no such weights file")
    runtime.tensorflow()
    from visiontk.backbones.transformer import StyleTransformer

    filters, blocks = network_shape(path)
    with keras_policy("mixed_bfloat16" if precision == "bfloat16" else "float32"):
        return StyleTransformer(filters, blocks, weights=path)


class FastStylizer:
    """Paints photos with one trained network; build it once for a batch of photos."""

    def __init__(self, model: str | os.PathLike = "starry-night", precision: str = "auto") -> None:
        self.precision = resolve_precision(precision)
        self.network = load_model(model, self.precision)
        tf = runtime.tensorflow()
        # One trace for every photo size (a new trace per size would cost more than painting).
        self._run = tf.function(lambda x: self.network(x, training=False),
                                input_signature=[tf.TensorSpec((None, None, None, 3), tf.float32)])

    def __call__(self, photo: np.ndarray | str | os.PathLike, *, size: int | None = DEFAULT_SIZE,
                 preserve_color: bool = False, strength: float = 1.0) -> np.ndarray:
        """The painted photo, (H, W, 3) uint8 with a long side of `size` pixels (None: the photo's own).
        `strength` (0..1) mixes the painting with the photo: 1 paints fully, 0 leaves the photo."""
        if not 0.0 <= strength <= 1.0:
            raise BadInputError(f"strength must be between 0 and 1, got {strength}")
        rgb = load_input(photo, "photo")
        if size is not None and size != max(rgb.shape[:2]):
            rgb = resize_long_side(rgb, size)
        painted = self.paint(rgb)
        if strength < 1.0:
            painted = np.clip(np.round(strength * painted + (1.0 - strength) * rgb.astype(np.float32)), 0, 255)
            painted = painted.astype(np.uint8)
        if preserve_color:
            painted = color.with_chrominance(color.luminance(painted), rgb)
            painted = np.clip(np.round(painted), 0, 255).astype(np.uint8)
        return painted

    def paint(self, rgb: np.ndarray) -> np.ndarray:
        """One forward pass on an RGB uint8 image of any size (mirror-padded to a multiple of 4)."""
        from visiontk.backbones.transformer import PAD_MULTIPLE

        height, width = rgb.shape[:2]
        pad_h, pad_w = -height % PAD_MULTIPLE, -width % PAD_MULTIPLE
        mode = "reflect" if min(height, width) > max(pad_h, pad_w) else "edge"
        padded = np.pad(rgb, ((0, pad_h), (0, pad_w), (0, 0)), mode=mode).astype(np.float32)
        try:
            out = self._run(padded[None]).numpy()[0, :height, :width]
        except (MemoryError, runtime.tensorflow().errors.ResourceExhaustedError):
            raise BadInputError(f"{width}x{height} is too large to paint in memory; use a smaller --size") from None
        return np.clip(np.round(out), 0, 255).astype(np.uint8)
