"""DCGAN training that survives interruption.

A run folder holds everything: `config.json` (data and hyper-parameters), `checkpoint.npz` (both
networks, both optimisers, epoch, step within the epoch, the noise generator's state; written at the
end of each epoch and on Ctrl-C/SIGTERM), `generator.weights.h5` + `generator.json` (the latest
generator, usable with `gan generate --model RUN_DIR`), `samples/epoch-NNN.png` (a fixed noise batch),
`losses.csv` (every `log_every` steps), `epochs.csv` (time and speed per epoch) and `loss_curve.png`.

Exact resume: batches of epoch e are a permutation drawn from (seed, e), the noise comes from a NumPy
generator whose state is checkpointed, so a resumed run takes the same steps as an uninterrupted one.
"""
from __future__ import annotations

import csv
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from visiontk import runtime
from visiontk.errors import BadInputError, UsageError, VisiontkError
from visiontk.imageio import atomic_output

log = logging.getLogger("visiontk")

CONFIG = "config.json"
CHECKPOINT = "checkpoint.npz"
GENERATOR_WEIGHTS = "generator.weights.h5"
GENERATOR_CONFIG = "generator.json"
LOSSES = "losses.csv"
EPOCHS = "epochs.csv"
CURVE = "loss_curve.png"
LOSS_FIELDS = ("epoch", "step", "d_loss", "g_loss", "d_real", "d_fake")
EPOCH_FIELDS = ("epoch", "steps", "seconds", "images_per_second", "d_loss", "g_loss")
SHEET_SIZE = 64


@dataclass
class TrainConfig:
    data: str
    image_size: int = 28
    channels: int = 1
    masks: str | None = None
    epochs: int = 25
    batch_size: int = 128
    latent_dim: int = 100
    width: int = 64
    learning_rate: float = 2e-4
    beta_1: float = 0.5
    seed: int = 0
    log_every: int = 20
    strategy: str = "default"
    limit: int | None = None           # use only the first N images (quick trials)
    extra: dict = field(default_factory=dict)

    def generator_config(self) -> dict:
        return {"image_size": self.image_size, "channels": self.channels, "latent_dim": self.latent_dim,
                "width": self.width}


@dataclass
class Progress:
    """Where a run stands: the next step to take is (epoch, step), both counted from 0."""

    epoch: int = 0
    step: int = 0
    global_step: int = 0


def train(data: str | Path | None, out: str | Path, *, image_size: int = 28, masks: str | Path | None = None,
          epochs: int = 25, batch_size: int = 128, latent_dim: int = 100, width: int = 64,
          strategy: str = "default", seed: int | None = None, log_every: int = 20, limit: int | None = None,
          resume: bool = False, on_epoch: Callable[[dict], None] | None = None) -> dict:
    """Train a DCGAN on `data` into run folder `out` (or continue the run there with resume=True).

    Returns a summary: epochs done, steps, seconds, images per second, last losses, paths.
    """
    out = Path(out)
    if resume:
        config = _read_config(out)
    else:
        config = _new_config(data, out, image_size, masks, epochs, batch_size, latent_dim, width, strategy,
                             seed, log_every, limit)
    images = _load_training_images(config)
    trainer = Trainer(config, out)
    if resume:
        progress = trainer.restore()
        if epochs and epochs != config.epochs:
            # Remember that the run was extended (or shortened), for its model card.
            config.extra.setdefault("resumed", []).append(
                {"at_epoch": progress.epoch, "epochs_before": config.epochs, "epochs": epochs})
            config.epochs = epochs
    if trainer.chief:
        _write_json(out / CONFIG, asdict(config))
    return trainer.fit(images, on_epoch)


def _new_config(data, out: Path, image_size, masks, epochs, batch_size, latent_dim, width, strategy, seed,
                log_every, limit) -> TrainConfig:
    if data is None:
        raise BadInputError("give the training DATA (or --resume RUN_DIR to continue a run)")
    if str(data) == "-":  # a run re-reads its data when resumed, so it must be something that stays
        raise BadInputError("gan train needs DATA as a folder, IDX file or .npz, not paths on stdin")
    if (out / CHECKPOINT).exists() or (out / CONFIG).exists():
        raise BadInputError(f"{out}: already holds a training run; use --resume {out} to continue it "
                            "or choose another --out")
    if seed is None:
        seed = runtime.settings.seed
    if seed is None and strategy == "multiworker":
        raise UsageError("gan train --strategy multiworker needs the same `visiontk --seed N` on every "
                         "worker, so that they draw their shares of the same batches")
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % 2**31)
    if batch_size < 2 or epochs < 1 or latent_dim < 1 or log_every < 1:
        raise BadInputError("--batch-size must be >= 2, --epochs, --latent-dim and --log-every >= 1")
    from visiontk.backbones.dcgan import dcgan_depth

    dcgan_depth(image_size)
    return TrainConfig(data=str(Path(data).resolve()), image_size=image_size,
                       masks=str(Path(masks).resolve()) if masks else None, epochs=epochs,
                       batch_size=batch_size, latent_dim=latent_dim, width=width, seed=seed,
                       log_every=log_every, strategy=strategy, limit=limit)


def _read_config(out: Path) -> TrainConfig:
    path = out / CONFIG
    if not path.is_file():
        raise BadInputError(f"{out}: not a training run folder (no {CONFIG}); start one with "
                            "`gan train DATA --out`")
    try:
        return TrainConfig(**json.loads(path.read_text()))
    except (ValueError, TypeError) as exc:
        raise BadInputError(f"{path}: unreadable run configuration ({exc})") from None


def _load_training_images(config: TrainConfig) -> np.ndarray:
    from visiontk.gan.data import load_images

    images = load_images(config.data, config.image_size, config.masks, config.limit)
    config.channels = images.shape[-1]
    if len(images) < config.batch_size:
        raise BadInputError(f"{config.data}: only {len(images)} images, fewer than one batch of "
                            f"{config.batch_size}; lower --batch-size")
    return images


class Trainer:
    """Both networks, both optimisers and the bookkeeping of one run."""

    def __init__(self, config: TrainConfig, out: Path) -> None:
        from visiontk.backbones.dcgan import dcgan_discriminator, dcgan_generator

        self.config, self.out = config, out
        tf = runtime.tensorflow()
        import keras

        keras.utils.set_random_seed(config.seed)
        self.strategy = runtime.training_strategy(config.strategy)
        # Under multiworker every worker trains the same networks but only the chief writes the run.
        self.chief = runtime.is_chief(config.strategy)
        with self.strategy.scope():
            self.generator = dcgan_generator(config.image_size, config.channels, config.latent_dim,
                                             config.width)
            self.discriminator = dcgan_discriminator(config.image_size, config.channels, config.width)
            self.g_optimizer = keras.optimizers.Adam(config.learning_rate, beta_1=config.beta_1)
            self.d_optimizer = keras.optimizers.Adam(config.learning_rate, beta_1=config.beta_1)
            self.g_optimizer.build(self.generator.trainable_variables)
            self.d_optimizer.build(self.discriminator.trainable_variables)
        self.noise = np.random.Generator(np.random.PCG64(config.seed))
        self.fixed_noise = np.random.default_rng([config.seed, 2**20]).standard_normal(
            (SHEET_SIZE, config.latent_dim)).astype(np.float32)
        self.progress = Progress()
        self._step = tf.function(self._distributed_step)
        self._tf = tf

    # ---- one step -------------------------------------------------------------------------------------

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
        global_batch = self._tf.cast(self.config.batch_size, self._tf.float32)
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

    # ---- the loop -------------------------------------------------------------------------------------

    def fit(self, images: np.ndarray, on_epoch: Callable[[dict], None] | None = None) -> dict:
        config = self.config
        steps_per_epoch = len(images) // config.batch_size  # the last partial batch is dropped
        if self.chief:
            self.out.mkdir(parents=True, exist_ok=True)
            (self.out / "samples").mkdir(exist_ok=True)
            _drop_rows_after(self.out / LOSSES, self.progress.global_step)
            _drop_epochs_from(self.out / EPOCHS, self.progress.epoch + 1)
        summary: dict[str, Any] = {"run": str(self.out), "images": len(images),
                                   "steps_per_epoch": steps_per_epoch}
        with runtime.GracefulStop() as stop:
            while self.progress.epoch < config.epochs:
                record = self._run_epoch(images, steps_per_epoch, stop)
                if record is None:  # interrupted: the checkpoint is written, stop here
                    raise KeyboardInterrupt
                summary.update(record)
                if on_epoch:
                    on_epoch(record)
        summary.update(epochs_done=self.progress.epoch, global_step=self.progress.global_step,
                       generator=str(self.out / GENERATOR_WEIGHTS), curve=str(self.out / CURVE))
        return summary

    def _run_epoch(self, images: np.ndarray, steps_per_epoch: int, stop: runtime.GracefulStop) -> dict | None:
        config, progress = self.config, self.progress
        epoch = progress.epoch
        order = np.random.default_rng([config.seed, epoch]).permutation(len(images))
        window, rows = [], []
        started, first_step = time.time(), progress.step
        bar = runtime.progress(total=steps_per_epoch, initial=first_step,
                               desc=f"epoch {epoch + 1}/{config.epochs}", unit="batch")
        with bar:
            for step in range(first_step, steps_per_epoch):
                batch = images[np.sort(order[step * config.batch_size:(step + 1) * config.batch_size])]
                real = batch.astype(np.float32) / 127.5 - 1.0
                noise = self.noise.standard_normal((config.batch_size, config.latent_dim)).astype(np.float32)
                values = np.asarray(self._step(self._split(real), self._split(noise)), dtype=np.float64)
                if not np.all(np.isfinite(values)):
                    raise VisiontkError(f"training diverged at epoch {epoch + 1} step {step + 1} (loss is "
                                        "not finite); resume from the last checkpoint with a lower "
                                        "learning rate")
                window.append(values)
                progress.step, progress.global_step = step + 1, progress.global_step + 1
                bar.update(1)
                if len(window) == config.log_every or step + 1 == steps_per_epoch:
                    mean = np.mean(window, axis=0)
                    rows.append([epoch + 1, progress.global_step, *np.round(mean, 6)])
                    bar.set_postfix(d_loss=f"{mean[0]:.3f}", g_loss=f"{mean[1]:.3f}")
                    window = []
                if stop.requested:
                    if self.chief:
                        _append_csv(self.out / LOSSES, LOSS_FIELDS, rows)
                        self.save()
                    log.warning("stopped at epoch %d step %d; checkpoint saved, continue with --resume %s",
                                epoch + 1, step + 1, self.out)
                    return None
        seconds = time.time() - started
        done = steps_per_epoch - first_step
        progress.epoch, progress.step = epoch + 1, 0
        losses = np.array([r[2:4] for r in rows]) if rows else np.full((1, 2), np.nan)
        record = {"epoch": epoch + 1, "steps": done, "seconds": round(seconds, 2),
                  "images_per_second": round(done * config.batch_size / max(seconds, 1e-9), 1),
                  "d_loss": round(float(losses[:, 0].mean()), 4),
                  "g_loss": round(float(losses[:, 1].mean()), 4)}
        if self.chief:
            _append_csv(self.out / LOSSES, LOSS_FIELDS, rows)
            _append_csv(self.out / EPOCHS, EPOCH_FIELDS, [[record[k] for k in EPOCH_FIELDS]])
            self.write_samples(epoch + 1)
            self.write_curve()
            self.save()
        log.info("epoch %d: d_loss %.3f g_loss %.3f, %.0f images/s", epoch + 1, record["d_loss"],
                 record["g_loss"], record["images_per_second"])
        return record

    # ---- outputs --------------------------------------------------------------------------------------

    def write_samples(self, epoch: int) -> Path:
        from visiontk.gan.pictures import to_uint8, write_sheet

        images = to_uint8(self.generator(self.fixed_noise, training=False))
        path = self.out / "samples" / f"epoch-{epoch:03d}.png"
        write_sheet(path, images, columns=8, overwrite=True, scale=2 if self.config.image_size < 64 else 1)
        return path

    def write_curve(self) -> Path:
        return draw_loss_curve(self.out / LOSSES, self.out / CURVE)

    # ---- checkpoints ----------------------------------------------------------------------------------

    def save(self) -> Path:
        """Write the checkpoint and the latest generator (atomically: a crash leaves the previous one)."""
        arrays = {f"g/{i}": v for i, v in enumerate(self.generator.get_weights())}
        arrays.update({f"d/{i}": v for i, v in enumerate(self.discriminator.get_weights())})
        arrays.update({f"g_opt/{i}": np.asarray(v) for i, v in enumerate(self.g_optimizer.variables)})
        arrays.update({f"d_opt/{i}": np.asarray(v) for i, v in enumerate(self.d_optimizer.variables)})
        arrays["progress"] = np.array([self.progress.epoch, self.progress.step, self.progress.global_step])
        arrays["noise_state"] = np.array(json.dumps(self.noise.bit_generator.state))
        with atomic_output(self.out / CHECKPOINT, overwrite=True) as tmp:
            with open(tmp, "wb") as handle:
                np.savez(handle, **arrays)
        save_generator(self.generator, self.config.generator_config(), self.out / GENERATOR_WEIGHTS,
                       extra={"epochs": self.progress.epoch, "data": self.config.data})
        return self.out / CHECKPOINT

    def restore(self) -> Progress:
        path = self.out / CHECKPOINT
        if not path.is_file():
            raise BadInputError(f"{path}: no checkpoint to resume from (the run stopped before its first "
                                "epoch ended); start again without --resume")
        try:
            with np.load(path) as saved:
                arrays = {k: saved[k] for k in saved.files}
        except (OSError, ValueError) as exc:
            raise BadInputError(f"{path}: corrupt checkpoint ({exc})") from None
        try:
            self.generator.set_weights(_group(arrays, "g"))
            self.discriminator.set_weights(_group(arrays, "d"))
            for optimizer, prefix in ((self.g_optimizer, "g_opt"), (self.d_optimizer, "d_opt")):
                values = _group(arrays, prefix)
                if len(values) != len(optimizer.variables):
                    raise ValueError(f"{prefix}: {len(values)} saved values for {len(optimizer.variables)}")
                for variable, value in zip(optimizer.variables, values):
                    variable.assign(value)
        except ValueError as exc:
            raise BadInputError(f"{path}: checkpoint does not fit this run's networks ({exc})") from None
        epoch, step, global_step = (int(v) for v in arrays["progress"])
        self.progress = Progress(epoch, step, global_step)
        self.noise.bit_generator.state = json.loads(str(arrays["noise_state"]))
        log.info("resuming %s at epoch %d step %d", self.out, epoch + 1, step + 1)
        return self.progress


def draw_loss_curve(losses_csv: Path, path: Path, last_epoch: int | None = None) -> Path:
    """Draw a run's losses.csv (up to `last_epoch`) as a PNG, the epochs marked on the step axis."""
    from visiontk.gan.pictures import loss_curve

    rows = [r for r in _read_csv(losses_csv) if last_epoch is None or int(r["epoch"]) <= last_epoch]
    epoch_ends = {int(row["epoch"]): int(row["step"]) for row in rows}
    picture = loss_curve([int(r["step"]) for r in rows],
                         {name: [float(r[name]) for r in rows] for name in ("d_loss", "g_loss")},
                         [epoch_ends[e] for e in sorted(epoch_ends)])
    with atomic_output(path, overwrite=True) as tmp:
        picture.save(tmp, format="PNG")
    return path


def save_generator(generator, config: dict, path: Path, extra: dict | None = None) -> Path:
    """A generator's weights plus the JSON that rebuilds it (`<name>.json` beside `<name>.weights.h5`)."""
    with atomic_output(path, overwrite=True) as tmp:  # tmp ends in .weights.h5, as Keras requires
        generator.save_weights(str(tmp))
    _write_json(generator_config_path(path), {**config, **(extra or {})})
    return path


def generator_config_path(weights: Path) -> Path:
    return weights.with_name(weights.name.replace(".weights.h5", ".json"))


def _group(arrays: dict, prefix: str) -> list[np.ndarray]:
    keys = sorted((k for k in arrays if k.startswith(prefix + "/")), key=lambda k: int(k.split("/")[1]))
    return [arrays[k] for k in keys]


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path, overwrite=True) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n")


def _append_csv(path: Path, fields: tuple[str, ...], rows: list[list]) -> None:
    new = not path.exists()
    with open(path, "a", newline="") as handle:
        writer = csv.writer(handle)
        if new:
            writer.writerow(fields)
        writer.writerows(rows)


def _read_csv(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _rewrite_csv(path: Path, keep: Callable[[dict], bool]) -> None:
    """Drop rows written after the checkpoint (by a run that crashed before saving again)."""
    rows = _read_csv(path)
    kept = [r for r in rows if keep(r)]
    if len(kept) == len(rows):
        return
    with atomic_output(path, overwrite=True) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(kept)


def _drop_rows_after(path: Path, global_step: int) -> None:
    _rewrite_csv(path, lambda r: int(r["step"]) <= global_step)


def _drop_epochs_from(path: Path, epoch: int) -> None:
    _rewrite_csv(path, lambda r: int(r["epoch"]) < epoch)
