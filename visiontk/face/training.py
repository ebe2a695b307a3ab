"""`face train`: a siamese embedding network trained with the triplet or contrastive loss.

    train(data, run_dir, config)      train (or resume) into a run folder (visiontk.training's layout)

`visiontk.face.export` turns the run into a .keras model (+ its max_distance beside it).

DATA holds one folder of photos per person. Every photo's largest face is found and aligned once.
Batches hold `identities_per_batch` people with `images_per_identity` photos each (FaceNet's sampling),
so that every batch contains positives for each anchor; the triplet loss picks, for every anchor-positive
pair, the semi-hard negative of the batch (the closest one still farther than the positive), falling
back to the farthest negative when there is none (as in FaceNet and TensorFlow Addons).
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from visiontk import runtime, training
from visiontk.errors import BadInputError, NoFaceError, UsageError
from visiontk.face.align import CHIP_SIZE
from visiontk.face.detect import DEFAULT_MIN_FACE
from visiontk.imageio import expand_inputs
from visiontk.atomic import atomic_output

log = logging.getLogger("visiontk")


@dataclass
class TrainConfig:
    """The settings of a face training run (stored in RUN/config.json)."""

    data: list[str] = field(default_factory=list)   # folders holding one sub-folder of photos per person
    loss: str = training.setting("triplet", "Triplet loss with online semi-hard mining, or contrastive loss "
                                 "over the batch's pairs.", choices=("triplet", "contrastive"))
    margin: float | None = training.setting(None, "Loss margin [default: 0.2 triplet (squared distances), "
                                            "1.0 contrastive].", min=0)
    init: str = training.setting("pretrained", "Start from dlib's pretrained network, or from random "
                                 "weights.", choices=("pretrained", "scratch"))
    freeze_backbone: bool = training.setting(False, "Train only a new embedding head on the frozen network.")
    epochs: int = training.setting(10, "Epochs to train in all (may change on resume).", min=1)
    steps: int | None = training.setting(None, "Train to this many steps in all, instead of --epochs.", min=1)
    identities_per_batch: int = training.setting(8, "People in each batch.", min=2)
    images_per_identity: int = training.setting(4, "Photos of each of them in a batch.", min=2)
    steps_per_epoch: int | None = training.setting(None, "Batches per epoch [default: enough to see each "
                                                   "training photo about once].", min=1)
    learning_rate: float | None = training.setting(None, "Adam's learning rate [default: 1e-4 from "
                                                   "pretrained, 1e-3 from scratch or frozen].", min=0,
                                                   min_open=True)
    embedding_size: int = training.setting(128, "Values per embedding.", min=2)
    val_fraction: float = training.setting(0.25, "Share of each person's photos kept aside for the "
                                           "validation pairs.", min=0, max=0.9)
    strategy: str = "default"
    min_face: int = training.setting(DEFAULT_MIN_FACE, "Smallest face to look for, in pixels.", min=4)
    seed: int = 0
    checkpoint_every: int | None = training.setting(None, "Steps between checkpoints [default: every epoch].",
                                                    min=1)
    log_every: int | None = None          # default: one metrics row per epoch

    def resolved_margin(self) -> float:
        return self.margin if self.margin is not None else (0.2 if self.loss == "triplet" else 1.0)

    def resolved_learning_rate(self) -> float:
        if self.learning_rate is not None:
            return self.learning_rate
        return 1e-4 if self.init == "pretrained" and not self.freeze_backbone else 1e-3


# What may change when a run is resumed: the schedule. The epoch length, the batches and the network
# may not (the batches of step n depend on them).
CHANGEABLE = ("epochs", "steps", "learning_rate", "checkpoint_every", "log_every")


def config_from(data: Sequence[str], **settings) -> TrainConfig:
    return training.make_settings(TrainConfig, data=[str(d) for d in data], **settings)


# ---- data ---------------------------------------------------------------------------------------------

@dataclass
class FaceSet:
    chips: np.ndarray       # (N, CHIP_SIZE, CHIP_SIZE, 3) uint8
    labels: np.ndarray      # (N,) identity index
    names: list[str]        # identity names
    files: list[str]


def load_face_set(data: str | Path | Sequence[str | Path], min_face: int = 20,
                  log: Callable[[str], None] | None = None) -> FaceSet:
    """The aligned largest face of every photo in DATA/<person>/ (folders of the same person's name in
    several DATA folders are one person)."""
    from visiontk.face.align import align, to_uint8
    from visiontk.face.detect import detect_faces
    from visiontk.face.recognize import load_image, pick_face
    from visiontk.runtime import progress

    folders = [Path(data)] if isinstance(data, (str, Path)) else [Path(d) for d in data]
    person_dirs: dict[str, list[Path]] = {}
    for folder in folders:
        if not folder.is_dir():
            raise BadInputError(f"{folder}: no such folder (expected one sub-folder of photos per person)")
        for person in folder.iterdir():
            if person.is_dir() and not person.name.startswith("."):
                person_dirs.setdefault(person.name, []).append(person)
    people = sorted(person_dirs)
    work = [(label, path) for label, name in enumerate(people) for path in expand_inputs(person_dirs[name])]
    if len(people) < 2 or not work:
        raise BadInputError(f"{' '.join(map(str, folders))}: needs at least two sub-folders (one per person) "
                            "holding photos")
    chips, labels, files, skipped = [], [], [], 0
    for label, path in progress(work, desc="faces", unit="img"):
        try:
            image = load_image(path)
            face = pick_face(detect_faces(image, min_face=min_face), 0, str(path))
        except (NoFaceError, BadInputError) as exc:
            skipped += 1
            if log:
                log(f"skipped {exc}")
            continue
        chips.append(to_uint8(align(image, face.landmarks)))
        labels.append(label)
        files.append(str(path))
    labels_arr = np.array(labels, dtype=np.int32)
    counts = np.bincount(labels_arr, minlength=len(people)) if len(labels_arr) else np.zeros(len(people))
    if np.sum(counts >= 2) < 2:
        raise BadInputError(f"{' '.join(map(str, folders))}: needs at least two people with two or more "
                            "usable face photos "
                            f"(found faces in {len(chips)} photos, {skipped} skipped)")
    return FaceSet(np.stack(chips), labels_arr, people, files)


def split_validation(faces: FaceSet, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, val): about `fraction` of each person's photos, keeping two for training."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    for label in np.unique(faces.labels):
        members = rng.permutation(np.flatnonzero(faces.labels == label))
        held = min(int(round(fraction * len(members))), max(0, len(members) - 2))
        if fraction > 0 and len(members) >= 3:
            held = max(held, 1)
        val.extend(members[:held])
        train.extend(members[held:])
    return np.array(sorted(train), dtype=int), np.array(sorted(val), dtype=int)


def validation_pairs(labels: np.ndarray, train: np.ndarray, val: np.ndarray, seed: int) -> np.ndarray:
    """Balanced pairs (i, j, same) involving at least one held-out photo: every same-person pair and as
    many different-person pairs, drawn at random (so chance is 50%)."""
    rng = np.random.default_rng(seed)
    others = np.concatenate([train, val])
    positives, negatives = [], []
    for i in val:
        for j in others:
            if j == i or (j in val and j < i):
                continue
            (positives if labels[i] == labels[j] else negatives).append((i, j))
    if not positives or not negatives:
        return np.zeros((0, 3), dtype=int)
    chosen = rng.choice(len(negatives), size=min(len(positives), len(negatives)), replace=False)
    pairs = [(i, j, 1) for i, j in positives] + [(*negatives[k], 0) for k in chosen]
    return np.array(pairs, dtype=int)


def augment(chips: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random mirror, shift (up to 6 px) and brightness/contrast, so that few photos go further."""
    out = chips.astype(np.float32)
    flip = rng.random(len(out)) < 0.5
    out[flip] = out[flip, :, ::-1]
    for i in range(len(out)):
        dy, dx = rng.integers(-6, 7, size=2)
        out[i] = np.roll(out[i], (dy, dx), axis=(0, 1))
        gain, bias = rng.uniform(0.8, 1.2), rng.uniform(-20, 20)
        out[i] = np.clip((out[i] - 128) * gain + 128 + bias, 0, 255)
    return out


def sample_batch(labels: np.ndarray, people: int, per_person: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of a P x K batch: `people` identities (with 2+ photos), `per_person` photos each."""
    candidates = [label for label in np.unique(labels) if np.sum(labels == label) >= 2]
    chosen = rng.choice(candidates, size=min(people, len(candidates)), replace=False)
    batch = []
    for label in chosen:
        members = np.flatnonzero(labels == label)
        batch.extend(rng.choice(members, size=per_person, replace=len(members) < per_person))
    return np.array(batch)


# ---- losses -------------------------------------------------------------------------------------------

def _pairwise_squared(embeddings):
    from keras import ops
    dots = ops.matmul(embeddings, ops.transpose(embeddings))
    norms = ops.diagonal(dots)
    return ops.maximum(norms[:, None] - 2.0 * dots + norms[None, :], 0.0)


def triplet_semihard_loss(labels, embeddings, margin: float = 0.2):
    """FaceNet's triplet loss with online semi-hard negative mining, on squared distances."""
    from keras import ops
    labels = ops.reshape(ops.cast(labels, "int32"), (-1,))
    d = _pairwise_squared(embeddings)
    same = ops.equal(labels[:, None], labels[None, :])
    size = ops.shape(labels)[0]
    positive = ops.logical_and(same, ops.logical_not(ops.cast(ops.eye(size), "bool")))
    negative = ops.logical_not(same)
    d_ap = d[:, :, None]                        # anchor a, positive p
    d_an = d[:, None, :]                        # anchor a, negative n
    semihard = ops.logical_and(negative[:, None, :], ops.greater(d_an, d_ap))
    big = 1e9
    closest_semihard = ops.min(ops.where(semihard, d_an, big), axis=2)
    farthest_negative = ops.max(ops.where(negative, d, -big), axis=1)
    chosen = ops.where(ops.any(semihard, axis=2), closest_semihard, farthest_negative[:, None])
    per_pair = ops.relu(d - chosen + margin) * ops.cast(positive, d.dtype)
    return ops.sum(per_pair) / ops.maximum(ops.sum(ops.cast(positive, d.dtype)), 1.0)


def contrastive_loss(labels, embeddings, margin: float = 1.0):
    """Hadsell et al.'s contrastive loss over every pair of the batch, same and different weighed equally."""
    from keras import ops
    labels = ops.reshape(ops.cast(labels, "int32"), (-1,))
    distance = ops.sqrt(_pairwise_squared(embeddings) + 1e-12)
    same = ops.cast(ops.equal(labels[:, None], labels[None, :]), distance.dtype)
    off_diagonal = 1.0 - ops.eye(ops.shape(labels)[0], dtype=distance.dtype)
    positive, negative = same * off_diagonal, 1.0 - same
    pull = ops.sum(positive * ops.square(distance)) / ops.maximum(ops.sum(positive), 1.0)
    push = ops.sum(negative * ops.square(ops.relu(margin - distance))) / ops.maximum(ops.sum(negative), 1.0)
    return 0.5 * (pull + push)


# ---- the network --------------------------------------------------------------------------------------

def build_network(config: TrainConfig, pretrained_weights: bool = True):
    """chip (0..255) -> L2-normalised embedding, from dlib's pretrained ResNet or from scratch.
    `pretrained_weights=False` builds the same layers without loading dlib's weights (to restore a run)."""
    import keras
    from keras import layers

    from visiontk.backbones.dlib_resnet import DlibFaceResNet

    if config.init == "scratch":
        base = DlibFaceResNet(embedding_size=config.embedding_size, normalization="batch", name="backbone")
        inputs = base.input
        features = base.output
    else:
        base = DlibFaceResNet(name="backbone")
        if pretrained_weights:
            from visiontk.face.model import load_model
            base.set_weights(load_model().network.get_weights())
        inputs = keras.Input((CHIP_SIZE, CHIP_SIZE, 3), name="chip")
        if config.freeze_backbone:
            base.trainable = False
            # A new head on dlib's 128-D embedding; the frozen network runs in inference mode.
            features = layers.Dense(config.embedding_size, name="head")(base(inputs, training=False))
        else:
            # Fine-tune everything; the head starts as dlib's own embedding layer.
            trunk = keras.Model(base.input, base.get_layer("avg_pool").output, name="backbone")
            head = layers.Dense(config.embedding_size, use_bias=False, name="head")
            features = head(trunk(inputs))
            if config.embedding_size == base.output_shape[-1]:
                head.set_weights(base.get_layer("embedding").get_weights())
    outputs = layers.UnitNormalization(name="l2_normalize")(features)
    return keras.Model(inputs, outputs, name=f"face_{config.loss}")


# ---- training -----------------------------------------------------------------------------------------

def _embed(network, chips: np.ndarray, batch: int = 32) -> np.ndarray:
    return np.concatenate([np.asarray(network(chips[i:i + batch].astype(np.float32), training=False))
                           for i in range(0, len(chips), batch)])


def _pair_scores(embeddings: np.ndarray, pairs: np.ndarray, threshold: float) -> float:
    from visiontk.face.evaluate import accuracy
    distances = np.linalg.norm(embeddings[pairs[:, 0]] - embeddings[pairs[:, 1]], axis=1)
    return accuracy(distances, pairs[:, 2].astype(bool), threshold)


def _fit_threshold(embeddings: np.ndarray, labels: np.ndarray) -> float:
    """The distance threshold that best separates all pairs of the training photos."""
    from visiontk.face.evaluate import best_threshold
    i, j = np.triu_indices(len(labels), k=1)
    distances = np.linalg.norm(embeddings[i] - embeddings[j], axis=1)
    return best_threshold(distances, labels[i] == labels[j])


class _Validation:
    """What a run reports at the end of each epoch: the loss on four fixed, un-augmented training
    batches (comparable from epoch to epoch), the same-person distance (`max_distance`) fitted on the
    training photos, and the accuracy of balanced pairs involving held-out photos at that distance."""

    def __init__(self, faces: FaceSet, config: TrainConfig, train_idx: np.ndarray, val_idx: np.ndarray):
        self.faces, self.train_idx = faces, train_idx
        self.labels = faces.labels[train_idx]
        self.pairs = validation_pairs(faces.labels, train_idx, val_idx, config.seed)
        fixed_rng = np.random.default_rng(config.seed + 1)
        self.fixed = [sample_batch(self.labels, config.identities_per_batch, config.images_per_identity,
                                   fixed_rng) for _ in range(4)]
        self.loss_fn = triplet_semihard_loss if config.loss == "triplet" else contrastive_loss
        self.margin = config.resolved_margin()

    def fixed_loss(self, network) -> float:
        return float(np.mean([float(self.loss_fn(self.labels[b], _embed(network, self.faces.chips[
            self.train_idx[b]]), self.margin)) for b in self.fixed]))

    def __call__(self, network) -> dict:
        embeddings = _embed(network, self.faces.chips)
        max_distance = _fit_threshold(embeddings[self.train_idx], self.labels)
        accuracy = _pair_scores(embeddings, self.pairs, max_distance) if len(self.pairs) else float("nan")
        return {"fixed_batch_loss": self.fixed_loss(network), "val_accuracy": accuracy,
                "max_distance": max_distance}


def _refuse_old_run(run_dir: Path) -> None:
    if (run_dir / "history.json").exists() or (run_dir / "backup").exists():
        if not (run_dir / training.CONFIG).exists():
            raise BadInputError(f"{run_dir}: a checkpoint folder made by an older visiontk (Keras "
                                "BackupAndRestore); it can't resume: start a new run folder")


def train(data: Sequence[str], run_dir: str | Path, config: TrainConfig, *, given: Iterable[str] = (),
          on_progress: training.Progress | None = None) -> dict:
    """Train the embedding network on the people of `data` into `run_dir`, or resume the run there (see
    visiontk.training). One metrics row per epoch by default, with the validation figures. Returns the
    last logged row; `export` turns the run into a model for `--model`."""
    if config.strategy == "multiworker":
        raise UsageError("strategy 'multiworker': not supported by face training (the batches are not "
                         "split between workers, and the earlier Model.fit loop failed there too, "
                         "keras-team/keras#20585); use default or mirrored")
    run_dir, given = Path(run_dir), set(given)
    if "epochs" in given and "steps" not in given:   # --epochs on resume replaces an earlier --steps
        config, given = replace(config, steps=None), given | {"steps"}
    config = replace(config, data=[str(d) for d in data] or config.data)
    _refuse_old_run(run_dir)
    config, resumed = training.prepare_run(run_dir, config, task="face", given=given, changeable=CHANGEABLE)
    tf = runtime.tensorflow()
    import keras

    faces = _cached_face_set(config.data, run_dir, config.min_face)
    train_idx, val_idx = split_validation(faces, config.val_fraction, config.seed)
    validation = _Validation(faces, config, train_idx, val_idx)
    per_epoch = config.steps_per_epoch or max(1, math.ceil(
        len(train_idx) / (config.identities_per_batch * config.images_per_identity)))
    total = config.steps or config.epochs * per_epoch

    strategy = runtime.training_strategy(config.strategy)
    if config.identities_per_batch < strategy.num_replicas_in_sync:
        raise UsageError(f"`identities_per_batch` {config.identities_per_batch}: needs at least one "
                         f"person per replica ({strategy.num_replicas_in_sync})")
    keras.utils.set_random_seed(config.seed % 2**32)
    with strategy.scope():
        network = build_network(config)
        optimizer = keras.optimizers.Adam(config.resolved_learning_rate())
        optimizer.build(network.trainable_variables)
    max_distance = tf.Variable(float("nan"), dtype=tf.float64, trainable=False, name="max_distance")
    checkpoints = training.Checkpoints(run_dir, model=network, optimizer=optimizer, max_distance=max_distance)
    start = checkpoints.restore()
    optimizer.learning_rate.assign(config.resolved_learning_rate())
    metrics = training.Metrics(run_dir, start)
    if start == 0 and not metrics.rows:   # the starting point of the curves
        metrics.append({"step": 0, "seconds": 0.0, **validation(network)})
    if resumed:
        log.info("resuming %s at step %d of %d", run_dir, start, total)
    train_on = _step_function(tf, strategy, network, optimizer, config)
    labels = faces.labels[train_idx]

    def step(n: int) -> dict:
        rng = training.step_rng(config.seed, n)
        chosen = sample_batch(labels, config.identities_per_batch, config.images_per_identity, rng)
        chips = augment(faces.chips[train_idx[chosen]], rng)
        values = {"loss": float(train_on(*_per_replica(tf, strategy, chips, labels[chosen])))}
        if n % per_epoch == 0 or n == total:
            values.update(validation(network))
            max_distance.assign(values["max_distance"])
        return values

    last = training.train_steps(step, start=start, total=total, checkpoints=checkpoints, metrics=metrics,
                                checkpoint_every=config.checkpoint_every or per_epoch,
                                log_every=config.log_every or per_epoch, on_progress=on_progress,
                                periodic={per_epoch: lambda n: _draw_curves(run_dir, metrics)},
                                description="face train")
    _draw_curves(run_dir, metrics)
    return _last_row(metrics) if start >= total else last


def _step_function(tf, strategy, network, optimizer, config: TrainConfig):
    """One optimiser step on a batch given per replica (each replica holds whole people, so that it can
    mine its own triplets); each replica's loss is divided by their number, so that the summed gradients
    are the mean."""
    loss_fn = triplet_semihard_loss if config.loss == "triplet" else contrastive_loss
    margin, replicas = config.resolved_margin(), strategy.num_replicas_in_sync

    def replica_step(chips, labels):
        with tf.GradientTape() as tape:
            loss = loss_fn(labels, network(chips, training=True), margin) / replicas
        variables = network.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    @tf.function
    def train_on(chips, labels):
        return strategy.reduce("SUM", strategy.run(replica_step, args=(chips, labels)), axis=None)

    return train_on


def _per_replica(tf, strategy, chips: np.ndarray, labels: np.ndarray) -> tuple:
    """The batch as each replica's share of whole people (sample_batch keeps a person's photos together)."""
    replicas = strategy.num_replicas_in_sync
    labels = labels.astype(np.int32)
    if replicas == 1:
        return tf.constant(chips), tf.constant(labels)
    _, first = np.unique(labels, return_index=True)
    groups = np.array_split(labels[np.sort(first)], replicas)   # the people, in batch order
    shares = [np.isin(labels, group) for group in groups]
    return tuple(strategy.experimental_distribute_values_from_function(
        lambda ctx, v=values: tf.constant(v[shares[ctx.replica_id_in_sync_group]]))
        for values in (chips, labels))


def _draw_curves(run_dir: Path, metrics: training.Metrics) -> None:
    from visiontk.charts import line_chart

    panels = {"loss": {"training batches": metrics.column("loss"),
                       "fixed training batches": metrics.column("fixed_batch_loss")},
              "validation pair accuracy": {"accuracy": metrics.column("val_accuracy")}}
    line_chart(run_dir / training.CURVES, panels)


def _last_row(metrics: training.Metrics) -> dict:
    """The last metrics row as numbers (a finished run that is run again trains no step)."""
    row = metrics.rows[-1] if metrics.rows else {"step": 0}
    return {key: float(value) for key, value in row.items() if value not in (None, "")}


def _cached_face_set(data: Sequence[str], run_dir: Path, min_face: int) -> FaceSet:
    """Detecting and aligning is the slow part of start-up: keep the chips in the run folder."""
    cache = run_dir / "faces.npz"
    sources = np.array([str(Path(d).resolve()) for d in data])
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as stored:
            if np.array_equal(stored["data"], sources):
                return FaceSet(stored["chips"], stored["labels"], [str(n) for n in stored["names"]],
                               [str(f) for f in stored["files"]])
    faces = load_face_set(data, min_face, lambda line: log.warning("%s", line))
    with atomic_output(cache, overwrite=True) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, chips=faces.chips, labels=faces.labels, names=np.array(faces.names),
                 files=np.array(faces.files), data=sources)
    return faces


# `export` moved to visiontk.face.export (the task contract's place); this name stays for one release.
from visiontk.face.export import export  # noqa: E402,F401
