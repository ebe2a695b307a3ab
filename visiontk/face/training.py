"""`face train`: a siamese embedding network trained with the triplet or contrastive loss.

DATA_DIR holds one folder of photos per person. Every photo's largest face is found and aligned once.
Batches hold `identities_per_batch` people with `images_per_identity` photos each (FaceNet's sampling),
so that every batch contains positives for each anchor; the triplet loss picks, for every anchor-positive
pair, the semi-hard negative of the batch (the closest one still farther than the positive), falling
back to the farthest negative when there is none (as in FaceNet and TensorFlow Addons).
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from visiontk.errors import BadInputError, NoFaceError, UsageError, VisiontkError
from visiontk.face.draw import draw_training_curves
from visiontk.imageio import atomic_output, check_output, expand_inputs, write_image

CHIP = 150


@dataclass
class TrainConfig:
    loss: str = "triplet"                 # triplet | contrastive
    margin: float | None = None           # default: 0.2 triplet (squared distances), 1.0 contrastive
    init: str = "pretrained"              # pretrained | scratch
    freeze_backbone: bool = False
    epochs: int = 10
    identities_per_batch: int = 8
    images_per_identity: int = 4
    steps_per_epoch: int | None = None
    learning_rate: float | None = None
    embedding_size: int = 128
    val_fraction: float = 0.25
    strategy: str = "default"
    min_face: int = 20
    seed: int = 0

    def resolved_margin(self) -> float:
        return self.margin if self.margin is not None else (0.2 if self.loss == "triplet" else 1.0)

    def resolved_learning_rate(self) -> float:
        if self.learning_rate is not None:
            return self.learning_rate
        return 1e-4 if self.init == "pretrained" and not self.freeze_backbone else 1e-3


# ---- data ---------------------------------------------------------------------------------------------

@dataclass
class FaceSet:
    chips: np.ndarray       # (N, 150, 150, 3) uint8
    labels: np.ndarray      # (N,) identity index
    names: list[str]        # identity names
    files: list[str]


def load_face_set(data_dir: Path, min_face: int = 20, log: Callable[[str], None] | None = None) -> FaceSet:
    """The aligned largest face of every photo in DATA_DIR/<person>/."""
    from visiontk.face.align import align, to_uint8
    from visiontk.face.detect import detect_faces
    from visiontk.face.recognize import load_image, pick_face
    from visiontk.runtime import progress

    if not data_dir.is_dir():
        raise BadInputError(f"{data_dir}: no such folder (expected one sub-folder of photos per person)")
    people = sorted(p for p in data_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    work = [(label, path) for label, person in enumerate(people) for path in expand_inputs([person])]
    if len(people) < 2 or not work:
        raise BadInputError(f"{data_dir}: needs at least two sub-folders (one per person) holding photos")
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
        raise BadInputError(f"{data_dir}: needs at least two people with two or more usable face photos "
                            f"(found faces in {len(chips)} photos, {skipped} skipped)")
    return FaceSet(np.stack(chips), labels_arr, [p.name for p in people], files)


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


def make_loss(name: str, margin: float):
    import keras

    function = triplet_semihard_loss if name == "triplet" else contrastive_loss

    class PairLoss(keras.losses.Loss):
        def call(self, y_true, y_pred):
            return function(y_true, y_pred, margin)

    return PairLoss(name=f"{name}_loss", reduction="sum")


# ---- the network --------------------------------------------------------------------------------------

def build_network(config: TrainConfig):
    """chip (0..255) -> L2-normalised embedding, from dlib's pretrained ResNet or from scratch."""
    import keras
    from keras import layers

    from visiontk.backbones.dlib_resnet import DlibFaceResNet

    if config.init == "scratch":
        base = DlibFaceResNet(embedding_size=config.embedding_size, normalization="batch", name="backbone")
        inputs = base.input
        features = base.output
    else:
        from visiontk.face.model import load_model
        pretrained = load_model().network
        base = DlibFaceResNet(name="backbone")
        base.set_weights(pretrained.get_weights())
        inputs = keras.Input((CHIP, CHIP, 3), name="chip")
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


def train(data_dir: str | Path, output: str | Path, config: TrainConfig | None = None, *,
          checkpoint_dir: str | Path | None = None, resume: bool = False, overwrite: bool = False,
          on_epoch: Callable[[str], None] | None = None) -> dict:
    """Train, write OUTPUT (.keras) and OUTPUT's .json (threshold, history), and return the record.
    The checkpoint folder also holds history.json and curves.png (loss and validation accuracy)."""
    from visiontk.face.model import metadata_path
    from visiontk.runtime import seed_everything, settings, tensorflow, training_strategy

    config = config or TrainConfig()
    if config.strategy == "multiworker":
        # Tried with two workers on 127.0.0.1: fit fails converting a PerReplica batch to a tensor.
        raise UsageError("face train --strategy multiworker: Keras 3's Model.fit does not run under "
                         "MultiWorkerMirroredStrategy (keras-team/keras#20585); use default or mirrored")
    data_dir, output = Path(data_dir), Path(output)
    if output.suffix != ".keras":
        raise BadInputError(f"{output}: the trained model is written as .keras")
    check_output(output, overwrite)
    checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else output.with_name(output.name + ".ckpt")
    backup = checkpoint_dir / "backup"
    if backup.exists() and not resume:
        raise BadInputError(f"{checkpoint_dir}: holds checkpoints of an earlier run; pass --resume to "
                            "continue it, or delete the folder to start again")
    if resume and not backup.exists():
        raise BadInputError(f"{checkpoint_dir}: no checkpoint to resume from")
    seed = settings.seed if settings.seed is not None else config.seed
    tensorflow()
    seed_everything(seed)
    import keras

    log = on_epoch or (lambda line: None)
    faces = _cached_face_set(data_dir, checkpoint_dir, config.min_face, log)
    train_idx, val_idx = split_validation(faces, config.val_fraction, seed)
    pairs = validation_pairs(faces.labels, train_idx, val_idx, seed)
    train_labels = faces.labels[train_idx]
    steps = config.steps_per_epoch or max(1, math.ceil(
        len(train_idx) / (config.identities_per_batch * config.images_per_identity)))
    rng = np.random.default_rng(seed)

    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return steps

        def __getitem__(self, index):
            chosen = sample_batch(train_labels, config.identities_per_batch, config.images_per_identity, rng)
            return augment(faces.chips[train_idx[chosen]], rng), train_labels[chosen].astype(np.int32)

    strategy = training_strategy(config.strategy)
    with strategy.scope():
        network = build_network(config)
        network.compile(optimizer=keras.optimizers.Adam(config.resolved_learning_rate()),
                        loss=make_loss(config.loss, config.resolved_margin()))

    fixed_rng = np.random.default_rng(seed + 1)
    fixed = [sample_batch(train_labels, config.identities_per_batch, config.images_per_identity, fixed_rng)
             for _ in range(4)]
    loss_fn = triplet_semihard_loss if config.loss == "triplet" else contrastive_loss

    def fixed_loss() -> float:
        """The loss on four fixed, un-augmented training batches: comparable from epoch to epoch."""
        values = [float(loss_fn(train_labels[b], _embed(network, faces.chips[train_idx[b]]),
                                config.resolved_margin())) for b in fixed]
        return float(np.mean(values))

    history_path = checkpoint_dir / "history.json"
    history = json.loads(history_path.read_text()) if resume and history_path.exists() else []
    loss_before = history[0]["loss_before"] if history else fixed_loss()

    class EpochReport(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            started = time.time()
            embeddings = _embed(network, faces.chips)
            threshold = _fit_threshold(embeddings[train_idx], train_labels)
            val_accuracy = _pair_scores(embeddings, pairs, threshold) if len(pairs) else float("nan")
            record = {"epoch": epoch + 1, "train_loss": float((logs or {}).get("loss", float("nan"))),
                      "fixed_batch_loss": fixed_loss(), "loss_before": loss_before,
                      "val_accuracy": val_accuracy, "threshold": threshold,
                      "seconds_eval": round(time.time() - started, 1)}
            history.append(record)
            with atomic_output(history_path, overwrite=True) as tmp:
                tmp.write_text(json.dumps(history, indent=1))
            write_image(checkpoint_dir / "curves.png", draw_training_curves(history), overwrite=True)
            log(f"epoch {epoch + 1}/{config.epochs}: loss {record['train_loss']:.4f}, fixed-batch loss "
                f"{record['fixed_batch_loss']:.4f} (was {loss_before:.4f}), validation pair accuracy "
                f"{val_accuracy:.3f} at threshold {threshold:.3f}")

    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    try:
        network.fit(Batches(), epochs=config.epochs, verbose=0,
                    callbacks=[keras.callbacks.BackupAndRestore(str(backup), delete_checkpoint=False),
                               EpochReport()])
    except VisiontkError:
        raise
    except (ValueError, RuntimeError) as exc:
        raise VisiontkError(f"training failed: {exc}") from None
    if not history:
        raise BadInputError(f"{checkpoint_dir}: the checkpoint already finished {config.epochs} epochs; "
                            "raise --epochs to train further")
    final = history[-1]
    record = {"model": str(output), "data_dir": str(data_dir), "identities": len(faces.names),
              "photos": len(faces.files), "train_photos": int(len(train_idx)),
              "val_photos": int(len(val_idx)), "val_pairs": int(len(pairs)),
              "threshold": final["threshold"], "val_accuracy": final["val_accuracy"],
              "loss_before": loss_before, "loss_after": final["fixed_batch_loss"],
              "seconds": round(time.time() - started, 1), "config": asdict(config), "history": history}
    with atomic_output(output, overwrite) as tmp:
        network.save(str(tmp))
    with atomic_output(metadata_path(output), overwrite=True) as tmp:
        tmp.write_text(json.dumps(record, indent=1))
    return record


def _cached_face_set(data_dir: Path, checkpoint_dir: Path, min_face: int, log) -> FaceSet:
    """Detecting and aligning is the slow part of start-up: keep the chips beside the checkpoints."""
    cache = checkpoint_dir / "faces.npz"
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as data:
            if str(data["data_dir"]) == str(data_dir.resolve()):
                return FaceSet(data["chips"], data["labels"], [str(n) for n in data["names"]],
                               [str(f) for f in data["files"]])
    faces = load_face_set(data_dir, min_face, log)
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    with atomic_output(cache, overwrite=True) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, chips=faces.chips, labels=faces.labels, names=np.array(faces.names),
                 files=np.array(faces.files), data_dir=np.array(str(data_dir.resolve())))
    return faces
