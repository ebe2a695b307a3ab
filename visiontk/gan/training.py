"""DCGAN training in a run folder (visiontk.training): config.json, metrics.csv (the losses every
`log_every` steps), checkpoints/ (both networks, both optimisers, the step), curves.png and
samples/epoch-NNN.png (a sheet from fixed noise after every epoch).

The unit is the epoch (every image once, in an order drawn from the seed and the epoch); the loop counts
steps, `epochs * steps_per_epoch` of them. Each step's batch and noise depend only on (seed, step), so
running the same command again on an interrupted run ends with the weights an uninterrupted run has.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from visiontk import runtime, training
from visiontk.errors import BadInputError, VisiontkError

log = logging.getLogger("visiontk")

SHEET_SIZE = 64
LOSSES = ("d_loss", "g_loss", "d_real", "d_fake")
# Files of the run folders visiontk made before the shared run layout (they can't resume).
OLD_LAYOUT = ("checkpoint.npz", "losses.csv", "epochs.csv")


@dataclass
class TrainConfig:
    """The settings of a DCGAN training run (stored in RUN/config.json)."""

    data: list[str] = field(default_factory=list)   # folders, IDX files or .npz files of images
    image_size: int = training.setting(28, "Side of the generated images (the networks' depth follows it).",
                              choices=(28, 32, 64))
    masks: str | None = training.setting(None, "Folder of segmentation masks named like the images: added as a 4th channel.")
    limit: int | None = training.setting(None, "Use only the first N images (for a quick trial).", min=1)
    channels: int | None = None        # found in the data: 1 gray, 3 colour, +1 with masks
    epochs: int = training.setting(25, "Epochs to train in all (may change on resume).", min=1)
    batch_size: int = training.setting(128, "The global batch, split between replicas.", min=1, max=65536)
    latent_dim: int = training.setting(100, min=1, max=4096)
    width: int = training.setting(64, "Filters of the widest-resolution layer.", min=1, max=1024,
                                  flag="--filters")    # as stylize train's; --width is an output size elsewhere
    learning_rate: float = training.setting(2e-4, "Adam's learning rate, of both networks (may change on resume).",
                                   min=0, min_open=True)
    beta_1: float = 0.5
    seed: int = 0                      # as every task's runs: the global `visiontk --seed N` changes it
    log_every: int = training.setting(20, "Steps per row of metrics.csv.", min=1)
    strategy: str = "default"

    def generator_config(self) -> dict:
        return {"image_size": self.image_size, "channels": self.channels, "latent_dim": self.latent_dim,
                "width": self.width}


# What may change when a run is resumed: its length and schedule, and the machines it runs on (the
# global batch stays, so the strategy changes how a step is computed, not what it computes).
CHANGEABLE = ("epochs", "learning_rate", "log_every", "strategy")


def train(data: Sequence[str], run_dir: str | Path, config: TrainConfig, *, given: Iterable[str] = (),
          on_progress: training.Progress | None = None) -> dict:
    """Train a DCGAN on the images of `data` into `run_dir`, or resume the run there (see
    visiontk.training: settings in CHANGEABLE may change, the others must stay). Returns the last
    logged row of metrics.csv."""
    run_dir = Path(run_dir)
    _refuse_old_layout(run_dir)
    if any(str(d) == "-" for d in data):  # a resumed run reads its data again: it must stay there
        raise BadInputError("gan train needs DATA as folders, IDX files or .npz files, not paths on stdin")
    # Paths are stored absolute: the same command from another folder is the same run.
    config = replace(config, data=[str(Path(d).resolve()) for d in data] or config.data,
                     masks=str(Path(config.masks).resolve()) if config.masks else None)
    before = training.run_settings(run_dir, TrainConfig, "gan", required=False)
    images = None
    if before is None:
        config = _new_run(config)
        images = _load_images(config)     # before the run folder exists: bad data leaves nothing behind
        config.channels = int(images.shape[-1])
    config, resumed = training.prepare_run(run_dir, config, task="gan", given=given, changeable=CHANGEABLE)
    chief = runtime.is_chief(config.strategy)    # under multiworker only the chief writes into the run
    if images is None:
        images = _load_images(config)
    if images.shape[-1] != config.channels:
        raise BadInputError(f"{config.data}: images with {images.shape[-1]} channels, the run has "
                            f"{config.channels}")
    gan = _Networks(config)
    checkpoints = training.Checkpoints(run_dir, chief=chief, generator=gan.generator,
                                       discriminator=gan.discriminator, g_optimizer=gan.g_optimizer,
                                       d_optimizer=gan.d_optimizer)
    start = checkpoints.restore()
    gan.set_learning_rate(config.learning_rate)
    metrics = training.Metrics(run_dir, start, chief=chief)
    steps_per_epoch = len(images) // config.batch_size   # the last partial batch is dropped
    total = config.epochs * steps_per_epoch
    if resumed:
        log.info("resuming %s at step %d of %d (epoch %d of %d)", run_dir, start, total,
                 start // steps_per_epoch + 1, config.epochs)
    batches = _Batches(images, config.batch_size, config.latent_dim, config.seed, steps_per_epoch)

    def step(n: int) -> dict:
        real, noise = batches(n)
        values = gan.step(real, noise)
        if not np.all(np.isfinite(values)):
            raise VisiontkError(f"training diverged at step {n} (a loss is not finite); run again on the run "
                                "folder with a lower `learning_rate` to resume from the last checkpoint")
        return dict(zip(LOSSES, values))

    def end_of_epoch(n: int) -> None:
        if chief:
            draw_samples(run_dir / training.SAMPLES / f"epoch-{n // steps_per_epoch:03d}.png",
                         gan.generator, config)
            draw_curves(run_dir / training.CURVES, metrics)

    return training.train_steps(step, start=start, total=total, checkpoints=checkpoints, metrics=metrics,
                                checkpoint_every=steps_per_epoch, log_every=config.log_every,
                                on_progress=on_progress, periodic={steps_per_epoch: end_of_epoch},
                                description="gan train")


def _refuse_old_layout(run_dir: Path) -> None:
    old = [name for name in OLD_LAYOUT if (run_dir / name).exists()]
    if old:
        raise BadInputError(f"{run_dir}: a run made by an older visiontk ({', '.join(old)}) can't be resumed; "
                            "start a new run folder (its generator still works with `visiontk gan generate --model`)")


def _new_run(config: TrainConfig) -> TrainConfig:
    """Check a new run's settings."""
    if not config.data:
        raise BadInputError("give the training DATA (folders, IDX files or .npz files)")
    if config.batch_size < 2 or config.epochs < 1 or config.latent_dim < 1 or config.log_every < 1:
        raise BadInputError("`batch_size` must be >= 2, `epochs`, `latent_dim` and `log_every` >= 1")
    from visiontk.backbones.dcgan import dcgan_depth

    dcgan_depth(config.image_size)
    return config


def _load_images(config: TrainConfig) -> np.ndarray:
    from visiontk.gan.data import load_images

    parts = [load_images(source, config.image_size, config.masks, config.limit) for source in config.data]
    if len({part.shape[-1] for part in parts}) > 1:
        raise BadInputError(f"{' '.join(config.data)}: the data sets differ in channels (gray, colour, mask)")
    images = np.concatenate(parts)[:config.limit]
    if len(images) < config.batch_size:
        raise BadInputError(f"{' '.join(config.data)}: only {len(images)} images, fewer than one batch of "
                            f"{config.batch_size}; lower `batch_size`")
    return images


class _Batches:
    """The real images and the noise of step n (from 1), drawn from (seed, step) only."""

    def __init__(self, images: np.ndarray, batch_size: int, latent_dim: int, seed: int,
                 steps_per_epoch: int) -> None:
        self.images, self.batch_size, self.latent_dim = images, batch_size, latent_dim
        self.seed, self.steps_per_epoch = seed, steps_per_epoch
        self._order: tuple[int, np.ndarray] | None = None

    def order(self, epoch: int) -> np.ndarray:
        """The epoch's order of the images, drawn from a child stream of its first step's generator
        (independent of that step's noise)."""
        if self._order is None or self._order[0] != epoch:
            first = training.step_rng(self.seed, epoch * self.steps_per_epoch + 1)
            self._order = (epoch, first.spawn(1)[0].permutation(len(self.images)))
        return self._order[1]

    def __call__(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        epoch, index = divmod(n - 1, self.steps_per_epoch)
        rows = np.sort(self.order(epoch)[index * self.batch_size:(index + 1) * self.batch_size])
        real = self.images[rows].astype(np.float32) / 127.5 - 1.0
        noise = training.step_rng(self.seed, n).standard_normal((self.batch_size, self.latent_dim))
        return real, noise.astype(np.float32)


class _Networks:
    """Both networks and both optimisers of a run, built under its tf.distribute strategy, and the step."""

    def __init__(self, config: TrainConfig) -> None:
        from visiontk.backbones.dcgan import dcgan_discriminator, dcgan_generator

        tf = self._tf = runtime.tensorflow()
        import keras

        self.batch_size = config.batch_size
        keras.utils.set_random_seed(config.seed % 2**32)   # the initial weights
        self.strategy = runtime.training_strategy(config.strategy)
        with self.strategy.scope():
            self.generator = dcgan_generator(config.image_size, config.channels, config.latent_dim,
                                             config.width)
            self.discriminator = dcgan_discriminator(config.image_size, config.channels, config.width)
            self.g_optimizer = keras.optimizers.Adam(config.learning_rate, beta_1=config.beta_1)
            self.d_optimizer = keras.optimizers.Adam(config.learning_rate, beta_1=config.beta_1)
            self.g_optimizer.build(self.generator.trainable_variables)
            self.d_optimizer.build(self.discriminator.trainable_variables)
        self._step = tf.function(self._distributed_step)

    def set_learning_rate(self, learning_rate: float) -> None:
        """The run's (possibly changed) rate, over the one a checkpoint restored."""
        self.g_optimizer.learning_rate.assign(learning_rate)
        self.d_optimizer.learning_rate.assign(learning_rate)

    def step(self, real: np.ndarray, noise: np.ndarray) -> np.ndarray:
        """One step on a global batch; returns (d_loss, g_loss, d_real, d_fake) as float64."""
        return np.asarray(self._step(self._split(real), self._split(noise)), dtype=np.float64)

    def _replica_step(self, real, noise, global_batch):
        """One discriminator update, then one generator update (non-saturating loss), on this replica's
        share of the batch; losses are scaled so that summing over replicas gives the batch mean."""
        tf = self._tf
        bce = lambda labels, logits: tf.reduce_sum(  # noqa: E731
            tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)) / global_batch
        with tf.GradientTape() as tape:
            fake = self.generator(noise, training=True)
            real_logits = self.discriminator(real, training=True)
            fake_logits = self.discriminator(fake, training=True)
            d_loss = (bce(tf.ones_like(real_logits), real_logits)
                      + bce(tf.zeros_like(fake_logits), fake_logits))
        grads = tape.gradient(d_loss, self.discriminator.trainable_variables)
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_variables))
        with tf.GradientTape() as tape:
            fake_logits = self.discriminator(self.generator(noise, training=True), training=True)
            g_loss = bce(tf.ones_like(fake_logits), fake_logits)
        grads = tape.gradient(g_loss, self.generator.trainable_variables)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_variables))
        d_real = tf.reduce_sum(tf.sigmoid(real_logits)) / global_batch
        d_fake = tf.reduce_sum(tf.sigmoid(fake_logits)) / global_batch
        return tf.stack([d_loss, g_loss, d_real, d_fake])

    def _distributed_step(self, real, noise):
        global_batch = self._tf.cast(self.batch_size, self._tf.float32)
        per_replica = self.strategy.run(self._replica_step, args=(real, noise, global_batch))
        return self.strategy.reduce("SUM", per_replica, axis=None)

    def _split(self, array: np.ndarray):
        """Give each replica its share of a global batch."""
        replicas = self.strategy.num_replicas_in_sync
        if replicas == 1:
            return self._tf.constant(array)
        parts = np.array_split(array, replicas)
        return self.strategy.experimental_distribute_values_from_function(
            lambda ctx: self._tf.constant(parts[ctx.replica_id_in_sync_group]))


# ---- pictures -----------------------------------------------------------------------------------------

def fixed_noise(config: TrainConfig) -> np.ndarray:
    """The latent vectors of a run's sample sheets: the same for every epoch, so the sheets compare."""
    return np.random.default_rng([config.seed % 2**32, 2**20]).standard_normal(
        (SHEET_SIZE, config.latent_dim)).astype(np.float32)


def draw_samples(path: Path, generator, config: TrainConfig) -> None:
    from visiontk.gan.pictures import to_uint8, write_sheet

    images = to_uint8(generator(fixed_noise(config), training=False))
    write_sheet(path, images, columns=8, overwrite=True, scale=2 if config.image_size < 64 else 1)


def draw_curves(path: Path, metrics: training.Metrics, last_step: int | None = None) -> None:
    """The losses and the discriminator's mean outputs against the step (up to `last_step`)."""
    from visiontk.charts import line_chart

    def column(name: str) -> tuple[list[float], list[float]]:
        steps, values = metrics.column(name)
        kept = [(s, v) for s, v in zip(steps, values) if last_step is None or s <= last_step]
        return [s for s, _ in kept], [v for _, v in kept]

    line_chart(path, {"losses": {"discriminator": column("d_loss"), "generator": column("g_loss")},
                      "discriminator's mean output": {"on real images": column("d_real"),
                                                      "on generated images": column("d_fake")}})


# ---- the trained generator ----------------------------------------------------------------------------

def run_config(run_dir: str | Path) -> TrainConfig:
    """The settings of the `gan train` run in `run_dir`."""
    _refuse_old_layout(Path(run_dir))
    return training.run_settings(run_dir, TrainConfig, "gan")


def run_generator(run_dir: str | Path):
    """(the generator at the run's last checkpoint, its configuration, the step it was taken at)."""
    config = run_config(run_dir)
    runtime.tensorflow()
    from visiontk.backbones.dcgan import dcgan_generator

    generator = dcgan_generator(config.image_size, config.channels, config.latent_dim, config.width)
    step = training.Checkpoints(run_dir, generator=generator).restore()
    if step == 0:
        raise BadInputError(f"{run_dir}: no checkpoint yet (a run saves one after each epoch and when stopped)")
    return generator, {**config.generator_config(), "step": step, "data": config.data}, step
