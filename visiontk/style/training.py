"""Training a feed-forward style network (Johnson, Alahi & Fei-Fei 2016) with the same perceptual
objective as Gatys' method (visiontk.style.losses), on random crops of several sizes, into a run folder
(visiontk.training: exact resume)."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from visiontk import runtime, training
from visiontk.errors import BadInputError
from visiontk.imageio import expand_inputs, read_image, resize_long_side, write_image
from visiontk.runtime import keras_policy, resolve_precision
from visiontk.style import losses
from visiontk.style.model import network_shape
from visiontk.style.transfer import (DEFAULT_CONTENT_LAYERS, DEFAULT_CONTENT_WEIGHT, DEFAULT_STYLE_LAYERS,
                                     DEFAULT_STYLE_WEIGHT, DEFAULT_TV_WEIGHT, load_input, resize)

log = logging.getLogger("visiontk")


@dataclass
class TrainConfig:
    """The settings of a feed-forward training run (stored in RUN/config.json)."""

    style: str                               # the painting
    data: list[str] = field(default_factory=list)      # folders or files of training photos
    steps: int = training.setting(4000, "Steps to train in all (may change on resume).", min=1)
    batch_size: int = training.setting(4, "Crops per step.", min=1, max=256)
    crop: int = training.setting(256, "Side of the smallest random square crops of the photos.", min=64, max=1024)
    # Each step's crops have one side drawn from crop, crop + 32, ... crop_max (None: always `crop`), so
    # that the strokes the network learns hold across output sizes.
    crop_max: int | None = training.setting(512, "Each step's crops have a side from --crop to this, in steps of 32 (the "
                                         "strokes hold across output sizes); equal to --crop for one size.",
                                   min=64, max=2048)
    learning_rate: float = training.setting(1e-3, "Adam's learning rate (may change on resume).", min=0, min_open=True)
    content_weight: float = training.setting(DEFAULT_CONTENT_WEIGHT, min=0, min_open=True)
    style_weight: float = training.setting(DEFAULT_STYLE_WEIGHT, min=0, min_open=True)
    tv_weight: float = training.setting(DEFAULT_TV_WEIGHT, min=0)
    style_scale: float = training.setting(1.0, "The painting's long side is this times the crop's (or --style-size): "
                                      "above 1 gives finer strokes.", min=0, min_open=True)
    style_size: int | None = training.setting(None, "Fix the painting's long side (times --style-scale) instead of tying "
                                           "it to each crop's side, as `stylize` ties it to the result's.",
                                     min=64, max=4096)
    jitter: float = training.setting(0.1, "Colour jitter of the crops: brightness, contrast and saturation within ±this.",
                            min=0, max=0.5)
    backbone: str = "vgg16"
    content_layers: list[str] = field(default_factory=lambda: list(DEFAULT_CONTENT_LAYERS))
    style_layers: list[str] = field(default_factory=lambda: list(DEFAULT_STYLE_LAYERS))
    filters: int = training.setting(32, "Width of the network's first layer (the next two double it).", min=4, max=256)
    residual_blocks: int = training.setting(5, min=1, max=32)
    precision: str = training.setting("auto", "What the networks compute in (the weights stay float32).",
                             choices=("auto", "float32", "bfloat16"))
    seed: int = 0
    init_from: str | None = training.setting(None, "Start from this .weights.h5 (a network of the same shape, e.g. to "
                                          "retrain a style).")
    samples: list[str] = training.setting([], "Photos drawn into RUN/samples every --sample-every steps (repeatable).")
    sample_every: int = training.setting(250, min=0)
    checkpoint_every: int = training.setting(100, min=1)
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
        batch = random_crops(photos, config.batch_size, crop, rng, config.jitter)
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
        raise BadInputError(f"`init_from` {path}: no such weights file")
    if network_shape(path) != (config.filters, config.residual_blocks):
        raise BadInputError(f"`init_from` {path}: a network of another shape (filters, residual blocks "
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
