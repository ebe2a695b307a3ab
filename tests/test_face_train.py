"""visiontk face train: the losses, the batch sampling, the run folder (exact resume, export, refusals)
on a tiny network, and a real (small) training run on the shared photos."""
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


# ---- the training run: a tiny network on synthetic faces, so that resuming can be checked exactly ----

def _tiny_network(config, pretrained_weights=True):
    import keras
    from keras import layers

    from visiontk.face.align import CHIP_SIZE
    return keras.Sequential([keras.Input((CHIP_SIZE, CHIP_SIZE, 3)), layers.AveragePooling2D(10),
                             layers.Rescaling(1 / 255), layers.Conv2D(4, 3, activation="relu"),
                             layers.GlobalAveragePooling2D(), layers.Dense(config.embedding_size),
                             layers.UnitNormalization()])


def _synthetic_faces(data, min_face=20, log=None):
    """Five people, four photos each: noise around a colour of their own."""
    from visiontk.face.align import CHIP_SIZE
    from visiontk.face.training import FaceSet

    rng = np.random.default_rng(7)
    labels = np.repeat(np.arange(5), 4).astype(np.int32)
    colours = rng.integers(40, 216, (5, 3))
    chips = np.clip(colours[labels][:, None, None, :] + rng.normal(0, 30, (20, CHIP_SIZE, CHIP_SIZE, 3)), 0, 255)
    return FaceSet(chips.astype(np.uint8), labels, list("abcde"), [f"{i}.jpg" for i in range(20)])


@pytest.fixture
def tiny(monkeypatch):
    """face.training with the tiny network and the synthetic faces; returns a config maker."""
    from visiontk.face import training

    monkeypatch.setattr(training, "build_network", _tiny_network)
    monkeypatch.setattr(training, "load_face_set", _synthetic_faces)

    def config(**changes):
        settings = dict(init="scratch", embedding_size=8, identities_per_batch=3, images_per_identity=2,
                        steps_per_epoch=3, epochs=2, learning_rate=0.01, checkpoint_every=2, log_every=1,
                        seed=3)
        return training.config_from(["people"], **{**settings, **changes})
    return config


def _checkpointed(run: Path) -> dict:
    """The network's and the optimiser's variables in the run's latest checkpoint."""
    import tensorflow as tf
    reader = tf.train.load_checkpoint(str(run / "checkpoints"))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
            if name.startswith(("model/", "optimizer/", "max_distance/"))}


def test_an_interrupted_run_resumes_to_the_weights_of_an_uninterrupted_one(tiny, tmp_path):
    from visiontk import training as runs
    from visiontk.face import training

    whole = tmp_path / "whole"
    last = training.train(["people"], whole, tiny())
    assert last["step"] == 6 and np.isfinite(last["max_distance"])

    # Killed after step 5: the last checkpoint is step 4, and the same call goes on from there.
    broken = tmp_path / "broken"

    def interrupt(row):
        if row["step"] == 5:
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        training.train(["people"], broken, tiny(), on_progress=interrupt)
    assert runs.Checkpoints(broken).restore() == 4
    training.train(["people"], broken, tiny())
    # Stopped by --steps 2, then given more epochs.
    stepped = tmp_path / "stepped"
    training.train(["people"], stepped, tiny(steps=2), given=["steps"])
    training.train(["people"], stepped, tiny(epochs=2), given=["epochs"])

    expected = _checkpointed(whole)
    assert len(expected) > 10
    for run in (broken, stepped):
        got = _checkpointed(run)
        assert got.keys() == expected.keys()
        for name in expected:
            assert np.array_equal(got[name], expected[name]), f"{run.name}: {name}"
    with open(broken / "metrics.csv") as handle:
        assert [int(row["step"]) for row in csv.DictReader(handle)] == [0, 1, 2, 3, 4, 5, 6]


def test_run_folder_export_and_refusals(tiny, tmp_path, run_cli):
    from visiontk.errors import BadInputError, VisiontkError
    from visiontk.face import load_model, training

    run = tmp_path / "run"
    training.train(["people"], run, tiny())
    with open(run / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    epoch_ends = [row for row in rows if row["val_accuracy"]]
    assert [int(row["step"]) for row in epoch_ends] == [0, 3, 6]
    assert json.loads((run / "config.json").read_text())["loss"] == "triplet"
    assert (run / "curves.png").stat().st_size > 1000

    model = training.export(run, tmp_path / "mine.keras")    # the old place of face.export still works
    loaded = load_model(model)
    assert loaded.max_distance == pytest.approx(float(epoch_ends[-1]["max_distance"]), rel=1e-5)
    embeddings = loaded.embed_chips(_synthetic_faces(None).chips[:2])
    assert embeddings.shape == (2, 8) and np.allclose(np.linalg.norm(embeddings, axis=1), 1, atol=1e-5)

    exported = run_cli("face", "export", run, "-o", tmp_path / "again.keras", "--json")
    assert exported.exit_code == 0, exported.stderr
    assert json.loads(exported.stdout) == {"input": str(run), "ok": True, "model": str(tmp_path / "again.keras"),
                                           "metadata": str(tmp_path / "again.json")}
    assert load_model(tmp_path / "again.keras").max_distance == loaded.max_distance

    with pytest.raises(VisiontkError, match="loss"):
        training.train(["people"], run, tiny(loss="contrastive"), given=["loss"])
    with pytest.raises(BadInputError, match="not a training run"):
        training.export(tmp_path, tmp_path / "x.keras")
    old = tmp_path / "old.keras.ckpt"
    (old / "backup").mkdir(parents=True)
    (old / "history.json").write_text("[]")
    with pytest.raises(BadInputError, match="older visiontk"):
        training.train(["people"], old, tiny())


def test_mirrored_training_splits_the_batch_by_people_over_two_replicas(tmp_path):
    """Under --strategy mirrored each replica gets whole people (so that it can mine its triplets)."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent(f"""
        import json, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from visiontk import runtime
        runtime.configure(cpu_devices=2)
        import test_face_train as t
        from visiontk.face import training
        training.build_network, training.load_face_set = t._tiny_network, t._synthetic_faces
        config = training.config_from(["people"], init="scratch", embedding_size=8, identities_per_batch=4,
                                      images_per_identity=2, steps_per_epoch=2, epochs=1, strategy="mirrored")
        print(runtime.training_strategy("mirrored").num_replicas_in_sync)
        print(json.dumps(training.train(["people"], {str(tmp_path / "run")!r}, config)))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    replicas, last = done.stdout.splitlines()[-2:]
    assert replicas == "2" and json.loads(last)["step"] == 2 and np.isfinite(json.loads(last)["loss"])


@pytest.mark.slow
def test_cli_trains_a_run_whose_export_serves_verify(run_cli, identity_dir, tmp_path, shared):
    run, model = tmp_path / "run", tmp_path / "mine.keras"
    args = ["face", "train", identity_dir, "--out", run, "--loss", "triplet", "--freeze-backbone",
            "--steps-per-epoch", "3", "--identities-per-batch", "4", "--images-per-identity", "3", "--json"]
    result = run_cli("--seed", "1", *args, "--epochs", "2")
    assert result.exit_code == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["step"] for row in rows] == [3, 6] and rows[-1]["input"] == str(run)
    assert rows[-1]["val_accuracy"] > 0.5 and json.loads((run / "config.json").read_text())["seed"] == 1
    with open(run / "metrics.csv") as handle:
        logged = list(csv.DictReader(handle))
    assert float(logged[-1]["fixed_batch_loss"]) < float(logged[0]["fixed_batch_loss"])   # step 0 vs 6

    exported = run_cli("face", "export", run, "-o", model)
    assert exported.exit_code == 0, exported.stderr
    assert json.loads(model.with_suffix(".json").read_text())["max_distance"] == pytest.approx(
        rows[-1]["max_distance"])
    faces = shared / "data" / "faces"
    same = run_cli("face", "verify", "--model", model, faces / "obama_5.jpg", faces / "obama_6.jpg")
    assert same.exit_code == 0, same.stderr
    different = run_cli("face", "verify", "--model", model, faces / "obama_5.jpg", faces / "biden_2.jpg")
    assert different.exit_code == 1

    # The same command with more epochs goes on from the checkpoint (the seed stays the run's).
    more = run_cli(*args, "--epochs", "3")
    assert more.exit_code == 0, more.stderr
    assert [json.loads(line)["step"] for line in more.stdout.splitlines()] == [9]
    # The old spelling: --checkpoint-dir for --out, -o to export at the end (nothing left to train).
    old = run_cli("face", "train", identity_dir, "--checkpoint-dir", run, "-o", tmp_path / "old.keras",
                  "--epochs", "3", "--resume")
    assert old.exit_code == 0, old.stderr
    assert (tmp_path / "old.keras").is_file() and (tmp_path / "old.json").is_file()
    both = run_cli("face", "train", identity_dir, "--out", run, "--epochs", "3", "--steps", "9")
    assert both.exit_code == 2 and "--steps" in both.stderr


def test_model_option_rejects_junk(run_cli, tmp_path, shared):
    junk = tmp_path / "junk.keras"
    junk.write_bytes(b"nope")
    faces = shared / "data" / "faces"
    result = run_cli("face", "verify", "--model", junk, faces / "obama_5.jpg", faces / "obama_6.jpg")
    assert result.exit_code == 3 and "junk.keras" in result.stderr


def test_train_options_come_from_train_config(run_cli, tmp_path):
    """One spelling per idea, as every `TASK train` (--learning-rate; --lr a hidden alias), defaults and
    bounds from face.TrainConfig's fields; refused at parse time, before any photo is read."""
    from visiontk.face import TrainConfig

    text = run_cli("face", "train", "--help").stdout
    assert "--learning-rate" in text and "--lr " not in text and "--checkpoint-dir" not in text
    assert f"[default: {TrainConfig().identities_per_batch}; x>=2]" in text
    for args in (["--lr", "0"], ["--identities-per-batch", "1"], ["--loss", "hinge"], ["--epochs", "2", "--steps", "3"]):
        result = run_cli("face", "train", tmp_path, "--out", tmp_path / "run", *args)
        assert result.exit_code == 2, (args, result.stderr)
    assert not (tmp_path / "run").exists()
