"""Training EDSR: L1 loss on random LR/HR patches, Adam with the learning rate halved every
`halve_every` steps, a validation PSNR on held-out images, checkpoints and exact resume.

A run folder holds `run.json` (the settings, fixed at the first start), `ckpt/` (model, optimizer, step,
training seconds), `log.csv`, and `best.weights.h5` (the weights with the best validation PSNR).
Running `train` again on the same folder resumes where the last checkpoint left off, drawing exactly
the batches the uninterrupted run would have drawn (see `visiontk.sr.data`).
"""
from __future__ import annotations

import csv
import json
import logging
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from visiontk.errors import BadInputError, VisiontkError
from visiontk.runtime import GracefulStop, is_chief, progress, tensorflow, training_strategy
from visiontk.sr import data
from visiontk.sr.curves import draw_curves
from visiontk.sr.degrade import Degradation
from visiontk.sr.metrics import y_psnr_ssim

log = logging.getLogger("visiontk.sr")


@dataclass
class TrainConfig:
    hr_dirs: list[str]
    scale: int = 2
    steps: int = 300_000
    batch: int = 16
    patch: int = 48               # LR patch side; the HR patch is patch * scale
    learning_rate: float = 1e-4
    halve_every: int = 200_000
    val_every: int = 500
    val_images: int = 10
    checkpoint_every: int = 500
    blocks: int = 16
    features: int = 64
    res_scaling: float | None = None
    seed: int = 0
    init_from: str | None = None
    strategy: str = "default"
    # mixed_bfloat16 trains ~5x faster on CPUs with AMX (bf16 matrix units) and the weights stay float32.
    precision: str = "float32"
    # "bicubic": LR by the benchmark's bicubic downscaling; "real": by a random blur/resize/noise/JPEG
    # degradation per patch (parameters: visiontk.sr.degrade.Degradation, overridable here).
    degradation: str = "bicubic"
    degradation_params: dict = field(default_factory=dict)
    command: str = field(default_factory=lambda: " ".join(["visiontk"] + sys.argv[1:]))


RESCHEDULABLE = ("steps", "learning_rate", "halve_every")


def train(config: TrainConfig, run_dir: str | Path, progress_every: int = 10,
          reschedule: tuple[str, ...] = ("steps",)) -> dict:
    """Train (or resume training) into `run_dir`; returns the final step, loss and best validation PSNR.

    If `run_dir` already holds a run, its stored settings are used, except the fields named in
    `reschedule` (`steps`, the total to reach; `learning_rate`; `halve_every`), which take config's
    values: a run resumed to train longer usually wants its learning rate to decay sooner too.
    """
    tf = tensorflow()
    run_dir = Path(run_dir)
    chief = is_chief(config.strategy)   # under multiworker only the chief writes into run_dir
    if (run_dir / "run.json").is_file():
        config = _load_or_store_config(config, run_dir, reschedule, write=chief)
        pairs, val_pairs, degradation = _load_data(config)
    else:  # a new run: refuse unusable data before the run folder exists
        pairs, val_pairs, degradation = _load_data(config)
        config = _load_or_store_config(config, run_dir, reschedule, write=chief)

    import keras

    strategy = training_strategy(config.strategy)
    previous_policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(config.precision)
    try:
        return _train(tf, keras, config, run_dir, strategy, pairs, val_pairs, progress_every, degradation,
                      chief)
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)


def _load_data(config: TrainConfig) -> tuple[list, list, Degradation | None]:
    """The training pairs, the validation pairs and the degradation of a run's settings."""
    paths = data.find_images([Path(d) for d in config.hr_dirs])
    train_paths, val_paths = data.split_validation(paths, config.val_images)
    degradation = degradation_of(config)
    margin = data.DEGRADE_MARGIN if degradation else 0
    pairs = data.load_pairs(train_paths, config.scale, min_lr_size=config.patch + 2 * margin)
    val_pairs = data.load_pairs(val_paths, config.scale, desc="validation images", degradation=degradation,
                                seed=config.seed) if val_paths else []
    return pairs, val_pairs, degradation


def degradation_of(config: TrainConfig) -> Degradation | None:
    """The run's random degradation, or None for bicubic LR."""
    if config.degradation == "bicubic":
        return None
    if config.degradation != "real":
        raise BadInputError(f"degradation must be bicubic or real, not {config.degradation!r}")
    try:
        return Degradation.from_dict(config.degradation_params)
    except (TypeError, ValueError) as exc:
        raise BadInputError(f"bad degradation parameters: {exc}") from None


def _train(tf, keras, config, run_dir, strategy, pairs, val_pairs, progress_every, degradation,
           chief: bool = True) -> dict:
    keras.utils.set_random_seed(config.seed)  # the same initial weights for the same seed
    with strategy.scope():
        model = build_model(config)
        schedule = keras.optimizers.schedules.ExponentialDecay(
            config.learning_rate, config.halve_every, 0.5, staircase=True)
        optimizer = keras.optimizers.Adam(schedule)
        optimizer.build(model.trainable_variables)
        step = tf.Variable(0, dtype=tf.int64, name="step")
        seconds = tf.Variable(0.0, dtype=tf.float64, name="train_seconds")
        best_psnr = tf.Variable(-1.0, dtype=tf.float64, name="best_val_psnr")
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, step=step, train_seconds=seconds,
                                     best_val_psnr=best_psnr)
    # Every worker saves (saving may need them all), but only the chief into the run; the others into
    # a scratch folder they delete. Every worker resumes from the chief's checkpoint.
    scratch = None if chief else tempfile.TemporaryDirectory(prefix="visiontk-worker-ckpt-")
    manager = tf.train.CheckpointManager(checkpoint, run_dir / "ckpt" if chief else scratch.name,
                                         max_to_keep=2)
    latest = tf.train.latest_checkpoint(str(run_dir / "ckpt"))
    if latest:
        checkpoint.restore(latest).assert_existing_objects_matched()
        log.info("resumed %s at step %d", run_dir, int(step.numpy()))
        if chief:
            _forget_log_after(run_dir, int(step.numpy()))
    elif config.init_from:
        warm_start(model, Path(config.init_from), config)

    first = int(step.numpy())
    dataset = data.patch_dataset(pairs, config.scale, config.patch, config.batch, config.seed,
                                 first, config.steps, degradation)
    batches = strategy.experimental_distribute_dataset(dataset)
    train_step = _make_train_step(tf, strategy, model, optimizer, config.batch)

    losses: list[float] = []
    started = time.monotonic()
    saved_seconds = float(seconds.numpy())
    bar = progress(total=config.steps, initial=first, desc=f"EDSR x{config.scale}", unit="step")
    last_loss = float("nan")
    with GracefulStop() as stop:
        for lr_hr in batches:
            loss = float(train_step(lr_hr))
            losses.append(loss)
            step.assign_add(1)
            now = int(step.numpy())
            bar.update(1)
            seconds.assign(saved_seconds + time.monotonic() - started)
            # The last step logs too, so that a run shorter than progress_every still has a loss.
            if now % progress_every == 0 or now == config.steps or stop.requested:
                last_loss = float(np.mean(losses))
                bar.set_postfix(loss=f"{last_loss:.3f}")
                if chief:
                    _log_row(run_dir, now, last_loss, schedule, float(seconds.numpy()), None)
                losses.clear()
            if val_pairs and (now % config.val_every == 0 or now == config.steps):
                val = validate(model, val_pairs, config.scale)
                if chief:
                    _log_row(run_dir, now, None, schedule, float(seconds.numpy()), val)
                    draw_curves(run_dir / "log.csv", run_dir / "curves.png")
                log.info("step %d: validation PSNR %.3f dB (best %.3f)", now, val, float(best_psnr.numpy()))
                if val > float(best_psnr.numpy()):
                    best_psnr.assign(val)
                    if chief:
                        _save_weights(model, run_dir / "best.weights.h5")
            if now % config.checkpoint_every == 0 or now == config.steps or stop.requested:
                manager.save(checkpoint_number=now)
                if chief:
                    _save_weights(model, run_dir / "latest.weights.h5")
            if stop.requested:
                log.warning("stopped at step %d on request; run the same command again to resume", now)
                break
    bar.close()
    if scratch is not None:
        scratch.cleanup()
    if not val_pairs and chief:  # nothing to judge "best" by: the latest is the best we have
        _save_weights(model, run_dir / "best.weights.h5")
    return {"run": str(run_dir), "step": int(step.numpy()), "loss": last_loss,
            "best_val_psnr": float(best_psnr.numpy()), "train_seconds": float(seconds.numpy())}


def build_model(config: TrainConfig):
    from visiontk.backbones.edsr import EDSR

    return EDSR(config.scale, config.blocks, config.features, config.res_scaling)


def warm_start(model, weights: Path, config: TrainConfig) -> None:
    """Start from another EDSR's weights: all of them for the same scale; else the shared body (the
    paper's x2 -> x4 warm start) and, from x2, the upsampler and tail too, arranged so that the new
    model starts out as the x2 model followed by nearest-neighbour upsampling of its features."""
    from visiontk.backbones.edsr import EDSR, body_layer_count, weighted_layers
    from visiontk.sr.edsr_files import weights_scale

    source_scale = weights_scale(weights)
    source = EDSR(source_scale, config.blocks, config.features, config.res_scaling)
    source.load_weights(weights)
    src, dst = weighted_layers(source), weighted_layers(model)
    count = len(dst) if source_scale == config.scale else body_layer_count(config.blocks)
    for a, b in zip(src[:count], dst[:count]):
        b.set_weights(a.get_weights())
    if source_scale == 2 and config.scale in (3, 4):
        _upsampler_from_x2(src, dst, config.scale, config.features)
    log.info("initialised %s from %s (x%d)", model.name, weights, source_scale)


def _upsampler_from_x2(src: list, dst: list, scale: int, features: int) -> None:
    """x4: the x2 upsampler, then a second x2 step that copies each feature to its 2x2 block.
    x3: each of the 3x3 sub-pixels takes the x2 sub-pixel that covers its centre. Both keep x2's tail."""
    src_up, src_tail = src[-2], src[-1]
    dst[-1].set_weights(src_tail.get_weights())
    kernel, bias = src_up.get_weights()
    if scale == 4:
        dst[-3].set_weights([kernel, bias])
        copy = np.zeros((3, 3, features, 4 * features), np.float32)
        for subpixel in range(4):  # depth_to_space reads channel (dy * 2 + dx) * features + c
            copy[1, 1, np.arange(features), subpixel * features + np.arange(features)] = 1.0
        dst[-2].set_weights([copy, np.zeros(4 * features, np.float32)])
        return
    nearest = [int((d + 0.5) * 2 / 3) for d in range(3)]
    order = [(nearest[dy] * 2 + nearest[dx]) for dy in range(3) for dx in range(3)]
    channels = np.concatenate([np.arange(features) + k * features for k in order])
    dst[-2].set_weights([kernel[..., channels], bias[channels]])


def _make_train_step(tf, strategy, model, optimizer, global_batch: int):
    def replica_step(lr, hr):
        with tf.GradientTape() as tape:
            sr = model(lr, training=True)
            per_example = tf.reduce_mean(tf.abs(sr - hr), axis=[1, 2, 3])
            loss = tf.reduce_sum(per_example) / global_batch
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    @tf.function
    def step(lr_hr):
        per_replica = strategy.run(replica_step, args=lr_hr)
        return strategy.reduce("SUM", per_replica, axis=None)

    return step


def validate(model, pairs: list, scale: int) -> float:
    """Mean Y-PSNR of the model on held-out images (the evaluation protocol)."""
    scores = []
    for pair in pairs:
        sr = model(pair.lr[None].astype(np.float32), training=False)[0].numpy()
        scores.append(y_psnr_ssim(sr, pair.hr, scale)[0])
    return float(np.mean(scores))


def _save_weights(model, path: Path) -> None:
    tmp = path.with_name(f".{path.name[:-len('.weights.h5')]}.part.weights.h5")
    model.save_weights(tmp)
    tmp.replace(path)


def _load_or_store_config(config: TrainConfig, run_dir: Path, reschedule: tuple[str, ...],
                          write: bool = True) -> TrainConfig:
    stored = run_dir / "run.json"
    if stored.is_file():
        try:
            saved = TrainConfig(**json.loads(stored.read_text()))
        except (ValueError, TypeError) as exc:
            raise BadInputError(f"{stored}: not a visiontk sr run ({exc}); use another --out folder") from None
        if saved.scale != config.scale:
            raise VisiontkError(f"{run_dir} is an x{saved.scale} run, not x{config.scale}: "
                                "use another --out folder")
        for name in reschedule:
            if name not in RESCHEDULABLE:
                raise VisiontkError(f"{name} is fixed when a run starts; only {', '.join(RESCHEDULABLE)} "
                                    "can change on resume")
            if name != "steps" and getattr(saved, name) != getattr(config, name):
                log.warning("%s: %s changed from %s to %s", run_dir, name, getattr(saved, name),
                            getattr(config, name))
            setattr(saved, name, getattr(config, name))
        config = saved
    if not write:
        return config
    run_dir.mkdir(parents=True, exist_ok=True)
    tmp = stored.with_suffix(".json.part")
    tmp.write_text(json.dumps(asdict(config), indent=2))
    tmp.replace(stored)
    return config


def _forget_log_after(run_dir: Path, step: int) -> None:
    """Drop the log rows of steps a resumed run will redo (those after its last checkpoint)."""
    path = run_dir / "log.csv"
    if not path.is_file():
        return
    lines = path.read_text().splitlines(keepends=True)
    kept = lines[:1] + [line for line in lines[1:] if int(line.split(",", 1)[0]) <= step]
    if len(kept) != len(lines):
        path.write_text("".join(kept))


def _log_row(run_dir: Path, step: int, loss: float | None, schedule, seconds: float,
             val_psnr: float | None) -> None:
    path = run_dir / "log.csv"
    new = not path.exists()
    rate = float(schedule(step - 1))  # the rate that step `step` used (the optimizer counts from 0)
    with open(path, "a", newline="") as handle:
        writer = csv.writer(handle)
        if new:
            writer.writerow(["step", "loss", "learning_rate", "seconds", "val_psnr"])
        writer.writerow([step, "" if loss is None else f"{loss:.4f}", f"{rate:.3g}", f"{seconds:.1f}",
                         "" if val_psnr is None else f"{val_psnr:.4f}"])
