"""visiontk face train: the losses, the batch sampling, and a real (small) training run on the shared
photos."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from visiontk.errors import BadInputError


@pytest.fixture(scope="module")
def identity_dir(shared, tmp_path_factory) -> Path:
    """The shared photos as DATA_DIR/<person>/<photo> (symlinks)."""
    root = tmp_path_factory.mktemp("identities")
    faces = shared / "data" / "faces"
    with open(faces / "identities.csv") as handle:
        for row in csv.DictReader(handle):
            (root / row["identity"]).mkdir(exist_ok=True)
            (root / row["identity"] / row["file"]).symlink_to(faces / row["file"])
    return root


def test_triplet_loss_semihard_mining_by_hand():
    from visiontk.face.training import triplet_semihard_loss
    # 1-D embeddings: a=0 and p=0.5 (label 0); negatives at 0.6 (semi-hard for the pair) and 3.0.
    embeddings = np.array([[0.0], [0.5], [0.6], [3.0]], dtype=np.float32)
    labels = np.array([0, 0, 1, 1])
    # Pair (a, p): d_ap = 0.25, the semi-hard negative is 0.6 (0.36): loss 0.25 - 0.36 + 0.2 = 0.09.
    # Pair (p, a): d_ap = 0.25, negatives from p at 0.01 and 6.25: semi-hard one is 6.25 -> 0.
    # Pair (0.6, 3.0): d = 5.76, negatives from 0.6 at 0.36 and 0.01: none farther -> the farthest
    # negative, 0.36: loss 5.6. Pair (3.0, 0.6): negatives at 9 and 6.25, semi-hard 6.25 -> 0.
    value = float(triplet_semihard_loss(labels, embeddings, 0.2))
    assert value == pytest.approx((0.09 + 0 + 5.6 + 0) / 4, abs=1e-5)


def test_contrastive_loss_zero_when_separated():
    from visiontk.face.training import contrastive_loss
    embeddings = np.array([[0.0, 0.0], [0.0, 0.0], [5.0, 0.0], [5.0, 0.0]], dtype=np.float32)
    assert float(contrastive_loss(np.array([0, 0, 1, 1]), embeddings, 1.0)) == pytest.approx(0.0, abs=1e-5)
    assert float(contrastive_loss(np.array([0, 1, 0, 1]), embeddings, 1.0)) > 1.0


def test_batches_hold_several_photos_of_several_people():
    from visiontk.face.training import sample_batch, split_validation, FaceSet, validation_pairs
    labels = np.repeat(np.arange(5), 4)
    batch = sample_batch(labels, 3, 4, np.random.default_rng(0))
    assert len(batch) == 12 and len(set(labels[batch])) == 3
    faces = FaceSet(np.zeros((20, 1, 1, 3), np.uint8), labels, list("abcde"), [""] * 20)
    train, val = split_validation(faces, 0.25, 0)
    assert len(set(train) & set(val)) == 0 and len(train) + len(val) == 20
    assert all(np.sum(labels[train] == k) >= 2 for k in range(5))
    pairs = validation_pairs(labels, train, val, 0)
    assert pairs[:, 2].sum() * 2 == len(pairs)    # balanced: chance is 50%


def test_train_needs_two_people(tmp_path):
    from visiontk.face.training import load_face_set
    (tmp_path / "only").mkdir()
    with pytest.raises(BadInputError, match="two sub-folders"):
        load_face_set(tmp_path)


@pytest.mark.slow
def test_triplet_training_lowers_the_loss_and_the_model_serves_verify(run_cli, identity_dir, tmp_path,
                                                                      shared):
    output = tmp_path / "mine.keras"
    result = run_cli("--seed", "1", "face", "train", identity_dir, "-o", output, "--loss", "triplet",
                     "--freeze-backbone", "--epochs", "2", "--steps-per-epoch", "3",
                     "--identities-per-batch", "4", "--images-per-identity", "3", "--json")
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["loss_after"] < record["loss_before"]
    assert record["val_accuracy"] > 0.5 and record["val_pairs"] > 0
    assert len(record["history"]) == 2
    assert json.loads(output.with_suffix(".json").read_text())["threshold"] == record["threshold"]
    from PIL import Image
    assert Image.open(output.with_name(output.name + ".ckpt") / "curves.png").size == (640, 360)

    faces = shared / "data" / "faces"
    same = run_cli("face", "verify", "--model", output, faces / "obama_5.jpg", faces / "obama_6.jpg")
    assert same.exit_code == 0, same.stderr
    different = run_cli("face", "verify", "--model", output, faces / "obama_5.jpg", faces / "biden_2.jpg")
    assert different.exit_code == 1

    # One more epoch from the checkpoint.
    resumed = run_cli("face", "train", identity_dir, "-o", output, "--loss", "triplet", "--freeze-backbone",
                      "--epochs", "3", "--steps-per-epoch", "3", "--identities-per-batch", "4",
                      "--images-per-identity", "3", "--resume", "--overwrite", "--json")
    assert resumed.exit_code == 0, resumed.stderr
    assert [h["epoch"] for h in json.loads(resumed.stdout)["history"]] == [1, 2, 3]
    fresh = run_cli("face", "train", identity_dir, "-o", tmp_path / "other.keras",
                    "--checkpoint-dir", output.with_name(output.name + ".ckpt"), "--epochs", "1")
    assert fresh.exit_code == 3 and "--resume" in fresh.stderr


def test_model_option_rejects_junk(run_cli, tmp_path, shared):
    junk = tmp_path / "junk.keras"
    junk.write_bytes(b"nope")
    faces = shared / "data" / "faces"
    result = run_cli("face", "verify", "--model", junk, faces / "obama_5.jpg", faces / "obama_6.jpg")
    assert result.exit_code == 3 and "junk.keras" in result.stderr
