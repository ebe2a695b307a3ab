"""Training EDSR or WDSR-B: L1 loss on random LR/HR patches, Adam with the learning rate halved every
`halve_every` steps, a validation PSNR on held-out images, and exact resume.

The run folder is the one every visiontk trainer writes (visiontk.training): config.json, metrics.csv
(loss and learning rate, plus `val_psnr` on the rows of validated steps), checkpoints/ (model, optimizer,
step, training seconds and the best validation PSNR so far) and curves.png; plus best.weights.h5, the
weights with the best validation PSNR (for `--init-from` and `sr export`). Running `train` again on the
same folder resumes from the last checkpoint, drawing exactly the patches the uninterrupted run would
have drawn: the sampler is keyed by (seed, sample number) (see visiontk.sr.data).
"""
from __future__ import annotations

import functools
import logging
import math
import shlex
import sys
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from visiontk import training
from visiontk.compat import renamed_keyword, renamed_value
from visiontk.errors import BadInputError, UsageError
from visiontk.runtime import is_chief, keras_policy, resolve_precision, tensorflow, training_strategy
from visiontk.sr.data import DEGRADE_MARGIN, find_images, load_pairs, patch_dataset, split_validation
from visiontk.sr.degrade import Degradation
from visiontk.sr.gan import CONTENT_LOSSES, GAN_LOSSES
from visiontk.sr.metrics import PERCEPTUAL_LAYERS, y_psnr_ssim
from visiontk.sr.networks import Network, read_network

log = logging.getLogger("visiontk.sr")

BEST = "best.weights.h5"    # in the run folder: the weights with the best validation PSNR
OLD_LAYOUT = "run.json"     # the settings file of sr runs made before the shared run folder


@dataclass
class TrainConfig:
    """The settings of an sr training run (stored in RUN/config.json); each `setting` is a `sr train` option."""

    data: list[str] = field(default_factory=list)  # folders or files of HR photos
    scale: int = training.setting(2, "Upscaling factor.", choices=(2, 3, 4))
    steps: int = training.setting(300_000, "Total training steps to reach (given when resuming: replaces the "
                                  "run's).", min=1)
    batch_size: int = training.setting(16, "Patches per step.", min=1)
    patch: int = training.setting(48, "LR patch side in pixels (the HR patch is patch x scale).", min=1)
    # "bicubic": LR by the benchmark's bicubic downscaling; "real": by a random blur/resize/noise/JPEG
    # degradation per patch (parameters: visiontk.sr.degrade.Degradation, overridable here).
    degradation: str = training.setting(
        "bicubic", "How LR is made: bicubic downscaling (the benchmark standard), or random blur, "
        "bicubic/bilinear/area downscaling, Gaussian/Poisson noise and JPEG q30-95, sometimes twice (for real "
        "photos). Fixed when a run starts.", choices=("bicubic", "real"))
    learning_rate: float = training.setting(1e-4, "Adam's learning rate (given when resuming: replaces the run's).",
                                            min=0, min_open=True)
    halve_every: int = training.setting(200_000, "Halve the learning rate every this many steps (given when "
                                        "resuming: replaces the run's).", min=1)
    val_every: int = training.setting(500, "Validation PSNR on the held-out images every this many steps.", min=1)
    val_images: int = training.setting(10, "Images held out of training for validation.", min=0)
    checkpoint_every: int = training.setting(500, "Steps between checkpoints.", min=1)
    log_every: int = 10           # metrics.csv rows (more often where validation or halving needs it)
    arch: str = training.setting("edsr", "EDSR (Lim et al. 2017) or WDSR-B (Yu et al. 2018: wide activation, "
                                 "weight-normalised; train it with --learning-rate 1e-3).", choices=("edsr", "wdsr"))
    # None: the arch's default (ARCH_DEFAULTS)
    blocks: int | None = training.setting(None, "Residual blocks [default: EDSR 16, WDSR 32].", min=1, max=256)
    features: int | None = training.setting(None, "Feature maps per conv [default: EDSR 64, WDSR 32].",
                                            min=1, max=1024)
    expansion: int = training.setting(6, "WDSR: how many times its blocks widen the features before their ReLU.",
                                      min=1, max=64)
    res_scaling: float | None = training.setting(None, "Residual scaling (0.1 for the full EDSR).",
                                                 min=0, min_open=True)
    seed: int = 0
    init_from: str | None = training.setting(None, "Start from these weights of the same network (another "
                                             "scale: the shared body only; an EDSR with fewer blocks: all "
                                             "of it, the extra blocks starting as identities).")
    strategy: str = "default"
    # bfloat16 trains ~5x faster on CPUs with AMX (bf16 matrix units); the weights stay float32.
    precision: str = training.setting("float32", "What the networks compute in (the weights stay float32): "
                                      "bfloat16 is ~5x faster on CPUs with AMX; auto picks it where the "
                                      "hardware runs it natively.", choices=("auto", "float32", "bfloat16"))
    degradation_params: dict = training.setting(
        {}, "With --degradation real: parameters that replace the random degradation's defaults, as a JSON "
        "object of visiontk.sr.degrade.Degradation's fields, e.g. '{\"blur_prob\": 0.1, \"resize_methods\": "
        "[\"bicubic\"]}'. Fixed when a run starts.")
    # SRGAN-style fine-tuning of the --init-from generator (visiontk.sr.gan): VGG16 content loss plus an
    # adversarial loss; the best weights are then those of the lowest validation perceptual distance.
    gan: bool = training.setting(
        False, "Fine-tune the --init-from generator SRGAN-style: VGG16 feature content loss plus an adversarial "
        "loss against an SRGAN discriminator (photo-realistic texture, lower PSNR); the best weights are those "
        "of the lowest validation perceptual distance.")
    gan_loss: str = training.setting("relativistic", "With --gan: ESRGAN's relativistic average discriminator, "
                                     "or SRGAN's.", choices=GAN_LOSSES)
    adversarial_weight: float = training.setting(5e-3, "With --gan: weight of the adversarial loss (SRGAN 1e-3, "
                                                 "ESRGAN 5e-3).", min=0)
    pixel_weight: float = training.setting(1e-2, "With --gan: weight of the L1 pixel loss on the [0, 1] scale "
                                           "(ESRGAN 1e-2, SRGAN 0).", min=0)
    content_loss: str = training.setting(
        "srgan", "With --gan: SRGAN's squared VGG16 feature difference at --content-layer, or LPIPS's "
        "unit-length features at the first convolution of each VGG16 block (layers the perceptual measure "
        "does not use).", choices=CONTENT_LOSSES)
    content_layer: str = training.setting("block5_conv3", "With --gan and --content-loss srgan: the VGG16 layer "
                                          "(after its ReLU) whose features the content loss compares.",
                                          choices=PERCEPTUAL_LAYERS)
    discriminator_features: int = training.setting(64, "With --gan: the discriminator's first convolution width "
                                                   "(doubled three times).", min=1, max=512)
    # shlex quoting: the card's copy of the command must paste back as typed (a JSON value has spaces)
    command: str = field(default_factory=lambda: shlex.join(["visiontk"] + sys.argv[1:]))

    def __post_init__(self):
        if self.arch not in ARCH_DEFAULTS:
            raise BadInputError(f"`arch` must be {' or '.join(ARCH_DEFAULTS)}, not {self.arch!r}")
        blocks, features = ARCH_DEFAULTS[self.arch]
        self.blocks = self.blocks or blocks
        self.features = self.features or features
        if self.gan and not self.init_from:
            raise BadInputError("`gan` fine-tunes a trained generator: give `init_from` WEIGHTS "
                                "(e.g. models/edsr-x4.weights.h5)")
        if self.degradation_params and self.degradation != "real":
            raise BadInputError("`degradation_params` set the random degradation: use them with `degradation` real")
        for name, known in (("gan_loss", GAN_LOSSES), ("content_loss", CONTENT_LOSSES)):
            if getattr(self, name) not in known:
                raise BadInputError(f"`{name}` must be {' or '.join(known)}, not {getattr(self, name)!r}")

    @property
    def network(self) -> Network:
        return Network(self.arch, self.scale, self.blocks, self.features,
                       self.expansion if self.arch == "wdsr" else None, self.res_scaling)


def _taking_the_old_batch_keyword(init):
    """TrainConfig(batch=N), batch_size's old name, for one release (visiontk.compat); not a field, so
    run folders and dataclasses.replace never see it."""
    @functools.wraps(init)
    def __init__(self, *args, batch: int | None = None, **settings):
        if batch is not None:
            settings["batch_size"] = renamed_keyword("batch", "batch_size", batch, None)
        init(self, *args, **settings)
    return __init__


def _old_batch(config: TrainConfig) -> int:
    warnings.warn("TrainConfig.batch is deprecated, use batch_size", DeprecationWarning, stacklevel=2)
    return config.batch_size


TrainConfig.__init__ = _taking_the_old_batch_keyword(TrainConfig.__init__)
TrainConfig.batch = property(_old_batch)


# (blocks, features): EDSR-baseline; WDSR-B as krasserm's wdsr-b-32 (40% of EDSR-baseline's weights).
ARCH_DEFAULTS = {"edsr": (16, 64), "wdsr": (32, 32)}


# What may change when a run is resumed: the schedule (a run resumed to train longer usually wants its
# learning rate to decay sooner too), and the machines it runs on (the global batch stays, so the
# strategy changes how a step is computed, not what it computes).
CHANGEABLE = ("steps", "learning_rate", "halve_every", "strategy")


def train(data: Sequence[str], run_dir: str | Path, config: TrainConfig, *, given: Iterable[str] = (),
          on_progress: training.Progress | None = None) -> dict:
    """Train EDSR or WDSR on the HR photos of `data` into `run_dir`, or resume the run there (visiontk.training:
    the `given` settings named in CHANGEABLE replace the run's, other given ones must equal the run's).

    Returns the run's last metrics row (`step`, `seconds`, `loss`, `learning_rate`, and `val_psnr` if that
    step was validated) with `best_val_psnr` (None without validation images)."""
    run_dir = Path(run_dir)
    config = replace(config, data=[str(d) for d in data] or config.data)
    stored = stored_config(run_dir)
    # A new run checks its data before the run folder exists; a resumed one reads the run's own data.
    if stored is None and config.init_from and not Path(config.init_from).is_file():
        raise UsageError(f"`init_from` {config.init_from}: no such weights file")
    loaded = load_data(config) if stored is None else None
    config, _ = training.prepare_run(run_dir, config, task="sr", given=given, changeable=CHANGEABLE)
    pairs, val_pairs, degradation = loaded or load_data(config)
    tensorflow()
    precision = resolve_precision(renamed_value("precision", config.precision))
    with keras_policy("mixed_bfloat16" if precision == "bfloat16" else "float32"):
        return _train(config, run_dir, pairs, val_pairs, degradation, on_progress)


def stored_config(run_dir: Path) -> TrainConfig | None:
    """The settings of the sr run in `run_dir` (None: no run there yet); refuses other runs."""
    if (run_dir / OLD_LAYOUT).is_file() and not (run_dir / training.CONFIG).is_file():
        raise BadInputError(f"{run_dir}: an sr run made by an older visiontk (run.json, log.csv, ckpt/), "
                            "which can't resume or export here; start a new run folder")
    return training.run_settings(run_dir, TrainConfig, "sr", required=False)


def load_data(config: TrainConfig) -> tuple[list, list, Degradation | None]:
    """The training pairs, the validation pairs and the degradation of a run's settings."""
    paths = find_images([Path(d) for d in config.data])
    train_paths, val_paths = split_validation(paths, config.val_images)
    degradation = degradation_of(config)
    margin = DEGRADE_MARGIN if degradation else 0
    pairs = load_pairs(train_paths, config.scale, min_lr_size=config.patch + 2 * margin)
    val_pairs = load_pairs(val_paths, config.scale, desc="validation images", degradation=degradation,
                           seed=config.seed) if val_paths else []
    return pairs, val_pairs, degradation


def degradation_of(config: TrainConfig) -> Degradation | None:
    """The run's random degradation, or None for bicubic LR."""
    if config.degradation == "bicubic":
        return None
    if config.degradation != "real":
        raise BadInputError(f"`degradation` must be bicubic or real, not {config.degradation!r}")
    try:
        return Degradation.from_dict(config.degradation_params)
    except (TypeError, ValueError) as exc:
        raise BadInputError(f"bad degradation parameters: {exc}") from None


def learning_rate(config: TrainConfig, step: int) -> float:
    """The rate step `step` (counted from 1) trains with: ExponentialDecay's staircase halving."""
    return config.learning_rate * 0.5 ** ((step - 1) // config.halve_every)


def _train(config: TrainConfig, run_dir: Path, pairs: list, val_pairs: list, degradation: Degradation | None,
           on_progress: training.Progress | None) -> dict:
    tf = tensorflow()
    import keras

    chief = is_chief(config.strategy)   # under multiworker only the chief writes into run_dir
    strategy = training_strategy(config.strategy)
    keras.utils.set_random_seed(config.seed % 2**32)  # the same initial weights for the same seed
    with strategy.scope():
        model, optimizer, adversary, features = _networks(config)
    # The best validation score so far, higher is better: PSNR, or for a GAN minus the perceptual distance
    # (PSNR would pick the weights the GAN started from).
    judged_by = "val_perceptual" if config.gan else "val_psnr"
    best = tf.Variable(-1e9 if config.gan else -1.0, dtype=tf.float64, trainable=False,
                       name="best_" + judged_by)
    # One checkpoint kept: the run folder is what gets committed, and resuming needs only the latest.
    checkpoints = training.Checkpoints(run_dir, keep=1, chief=chief, model=model, optimizer=optimizer,
                                       **{"best_" + judged_by: best}, **adversary)
    start = checkpoints.restore()
    if start:
        log.info("resumed %s at step %d of %d", run_dir, start, config.steps)
    elif config.init_from:
        warm_start(model, Path(config.init_from), config)
    metrics = training.Metrics(run_dir, start, chief=chief)
    dataset = patch_dataset(pairs, config.scale, config.patch, config.batch_size, config.seed, start, config.steps,
                            degradation)
    batches = iter(strategy.experimental_distribute_dataset(dataset))  # step n's batch: samples of step n only
    train_step, perceptual = _step_function(tf, strategy, config, model, optimizer, adversary, features)

    def validated(n: int) -> dict:
        scores = validate(model, val_pairs, config.scale, perceptual)
        score = -scores["val_perceptual"] if config.gan else scores["val_psnr"]
        log.info("step %d: validation %s", n, ", ".join(f"{k} {v:.4f}" for k, v in scores.items()))
        if score > float(best.numpy()):
            best.assign(score)
            if chief:
                training.save_weights(model, run_dir / BEST)
        return scores

    def step(n: int) -> dict:
        values = {**train_step(next(batches)), "learning_rate": learning_rate(config, n)}
        if val_pairs and (n % config.val_every == 0 or n == config.steps):
            values.update(validated(n))
        return values

    def draw(n: int) -> None:
        if chief:
            _draw_curves(run_dir, metrics, config.gan)

    # Rows at every validation (so that its PSNR is on its own step's row) and at every halving (so that
    # no row averages two learning rates).
    log_every = math.gcd(config.log_every, config.val_every, config.halve_every)
    last = training.train_steps(step, start=start, total=config.steps, checkpoints=checkpoints,
                                metrics=metrics, checkpoint_every=config.checkpoint_every, log_every=log_every,
                                on_progress=on_progress, periodic={config.val_every: draw},
                                description=f"{config.network.label} x{config.scale}")
    if chief:
        if not val_pairs:  # nothing to judge "best" by: the latest is the best we have
            training.save_weights(model, run_dir / BEST)
        _draw_curves(run_dir, metrics, config.gan)
    return _outcome(config, last, metrics, start, float(best.numpy()) if val_pairs else None)


def _networks(config: TrainConfig):
    """(model, its optimizer, a GAN run's discriminator and optimizer by checkpoint name (else {}), the GAN's
    VGG16 content features (else None)), built in this order so that a seed gives the same weights."""
    import keras

    model = build_model(config)
    optimizer = keras.optimizers.Adam(keras.optimizers.schedules.ExponentialDecay(
        config.learning_rate, config.halve_every, 0.5, staircase=True))
    optimizer.build(model.trainable_variables)
    if not config.gan:
        return model, optimizer, {}, None
    from visiontk.sr import gan

    adversary = dict(zip(("discriminator", "discriminator_optimizer"), gan.discriminator_and_optimizer(config)))
    return model, optimizer, adversary, gan.content_extractor(config)


def _step_function(tf, strategy, config: TrainConfig, model, optimizer, adversary: dict, features):
    """(the compiled training step, the perceptual distance a GAN run validates with, else None)."""
    if not config.gan:
        return _make_train_step(tf, strategy, model, optimizer, config.batch_size), None
    from visiontk.sr import gan
    from visiontk.sr.metrics import PerceptualDistance

    train_step = gan.make_gan_step(tf, strategy, model, optimizer, adversary["discriminator"],
                                   adversary["discriminator_optimizer"], features, config)
    return train_step, PerceptualDistance()


def _outcome(config: TrainConfig, last: dict, metrics: training.Metrics, start: int, best: float | None) -> dict:
    """What `train` returns: the last metrics row (the run's own when nothing was left to train) with the
    best validation score (`best`: higher is better, None without validation images)."""
    if start >= config.steps and metrics.rows:  # nothing left to train: where the run stands
        last = {key: int(float(value)) if key == "step" else float(value)
                for key, value in metrics.rows[-1].items() if value != ""}
    if config.gan:
        return {**last, "best_val_perceptual": None if best is None else -best}
    return {**last, "best_val_psnr": best}


def _draw_curves(run_dir: Path, metrics: training.Metrics, gan: bool = False) -> None:
    from visiontk.charts import line_chart

    psnr = "validation PSNR, dB (Y, held-out)"
    if gan:
        panels = {"generator loss (content + adversarial + L1)": {"loss": metrics.column("loss"),
                                                                  "d_loss": metrics.column("d_loss")},
                  psnr: {"val_psnr": metrics.column("val_psnr")},
                  "validation perceptual distance (lower is better)":
                      {"val_perceptual": metrics.column("val_perceptual")}}
        line_chart(run_dir / training.CURVES, panels)
        return
    loss = "training L1 loss (0-255 scale)"
    # The first steps' loss is ~20x the rest: a log scale keeps the later, slower fall visible.
    line_chart(run_dir / training.CURVES, {loss: {"loss": metrics.column("loss")},
                                           psnr: {"val_psnr": metrics.column("val_psnr")}}, log_y=(loss,))


def build_model(config: TrainConfig):
    from visiontk.sr.networks import build

    return build(config.network)


def warm_start(model, weights: Path, config: TrainConfig) -> None:
    """Start from another network's weights (same arch and size, or an EDSR with fewer blocks: `_deepen`):
    all of them for the same scale; else the shared body (the EDSR paper's x2 -> x4 warm start) and, for
    EDSR from x2, the upsampler and tail too, arranged so that the new model starts out as the x2 model
    followed by nearest-neighbour upsampling of its features."""
    from visiontk.backbones.edsr import body_layer_count, weighted_layers
    from visiontk.sr.networks import build

    found = read_network(weights)
    wanted = replace(config.network, scale=found.scale)
    if _deepens(found, config.network):
        _deepen(model, weights, found, config)
        return
    if replace(found, res_scaling=wanted.res_scaling) != wanted:
        raise BadInputError(f"`init_from` {weights}: {found.label} weights, but this run trains "
                            f"{config.network.label}; give weights of the same network")
    source = build(wanted)
    source.load_weights(weights)
    src, dst = weighted_layers(source), weighted_layers(model)
    body = body_layer_count(config.blocks) if config.arch == "edsr" else 1 + 3 * config.blocks
    count = len(dst) if found.scale == config.scale else body
    for a, b in zip(src[:count], dst[:count]):
        b.set_weights(a.get_weights())
    if config.arch == "edsr" and found.scale == 2 and config.scale in (3, 4):
        _upsampler_from_x2(src, dst, config.scale, config.features)
    log.info("initialised %s from %s (x%d)", model.name, weights, found.scale)


def _deepens(found, wanted) -> bool:
    """An EDSR of the same scale and width with fewer blocks: the start of a deeper one."""
    return (found.arch == wanted.arch == "edsr" and found.scale == wanted.scale
            and found.features == wanted.features and found.blocks < wanted.blocks)


def _deepen(model, weights: Path, found, config: TrainConfig) -> None:
    """Copy the shallower network's layers in order and append the extra blocks with their second
    convolution zeroed: each adds nothing at first, so the deeper network starts out computing exactly
    what the shallower one did, and training grows the new blocks from there."""
    from visiontk.backbones.edsr import body_layer_count, weighted_layers
    from visiontk.sr.networks import build

    source = build(replace(config.network, blocks=found.blocks))
    source.load_weights(weights)
    src, dst = weighted_layers(source), weighted_layers(model)
    kept = body_layer_count(found.blocks) - 1  # head and the old blocks
    for a, b in zip(src[:kept], dst[:kept]):
        b.set_weights(a.get_weights())
    for a, b in zip(src[kept:][::-1], dst[::-1]):  # body conv, upsampler, tail: the same from the end
        b.set_weights(a.get_weights())
    for second_conv in dst[kept + 1:body_layer_count(config.blocks) - 1:2]:
        second_conv.set_weights([np.zeros_like(w) for w in second_conv.get_weights()])
    log.info("initialised %s from %s (%s, new blocks zeroed)", model.name, weights, found.label)


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
        return {"loss": strategy.reduce("SUM", per_replica, axis=None)}

    return step


def validate(model, pairs: list, scale: int, perceptual=None) -> dict:
    """Mean Y-PSNR of the model on held-out images (the evaluation protocol) as `val_psnr`, and with a
    `perceptual` distance (visiontk.sr.metrics.PerceptualDistance) their mean as `val_perceptual`."""
    psnrs, distances = [], []
    for pair in pairs:
        sr = model(pair.lr[None].astype(np.float32), training=False)[0].numpy()
        psnrs.append(y_psnr_ssim(sr, pair.hr, scale)[0])
        if perceptual is not None:
            distances.append(perceptual(np.clip(np.round(sr), 0, 255), pair.hr, scale))
    scores = {"val_psnr": float(np.mean(psnrs))}
    if perceptual is not None:
        scores["val_perceptual"] = float(np.mean(distances))
    return scores
