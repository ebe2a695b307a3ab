"""The face API's names for its two cut-offs: `min_confidence` (detector) and `max_distance` (same person;
`tolerance` in compare_faces). The old `threshold` keywords, attributes and constants keep working for a
release, with a DeprecationWarning; and the embeddings file `face embed -o` writes reads back as written."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from visiontk import face
from visiontk.errors import BadInputError
from visiontk.face.embeddings_file import EmbeddingSet
from visiontk.face.gallery import UNKNOWN, Gallery


@pytest.fixture(scope="module")
def faces_dir(shared) -> Path:
    return shared / "data" / "faces"


def _gallery() -> tuple[Gallery, np.ndarray]:
    gallery = Gallery("m")
    gallery.add_many(["a", "b"], np.eye(2, 4, dtype=np.float32))
    return gallery, np.array([1.0, 0.3, 0, 0], np.float32)    # 0.3 from "a", about 1.04 from "b"


def test_gallery_identify_takes_max_distance_and_still_the_old_threshold():
    gallery, query = _gallery()
    assert gallery.identify(query, max_distance=0.5).name == "a"
    assert gallery.identify(query, 0.2).name == UNKNOWN               # positional, as before
    with pytest.warns(DeprecationWarning, match="threshold= is deprecated, use max_distance="):
        assert gallery.identify(query, threshold=0.2).name == UNKNOWN
    with pytest.warns(DeprecationWarning):
        old = gallery.identify_many(query[None], threshold=0.5)
    assert [m.to_dict() for m in old] == [m.to_dict() for m in gallery.identify_many(query[None], max_distance=0.5)]
    with pytest.raises(TypeError, match="max_distance"):
        gallery.identify(query)


def test_compare_faces_takes_face_recognitions_tolerance_and_still_threshold():
    known = np.array([[0.0, 0.0], [0.5, 0.0]])
    candidate = np.array([0.45, 0.0])
    assert face.compare_faces(known, candidate) == [True, True]        # default: DEFAULT_MAX_DISTANCE
    assert face.compare_faces(known, candidate, tolerance=0.1) == [False, True]
    assert face.compare_faces(known, candidate, 0.1) == [False, True]
    with pytest.warns(DeprecationWarning, match="use tolerance="):
        assert face.compare_faces(known, candidate, threshold=0.1) == [False, True]


def test_verification_reports_max_distance_and_threshold_for_one_release():
    result = face.Verification(True, 0.42, 0.6)
    assert result.to_dict() == {"same": True, "distance": 0.42, "max_distance": 0.6, "threshold": 0.6}
    with pytest.warns(DeprecationWarning):
        assert result.threshold == 0.6


def test_one_name_per_default_and_the_old_names_still_answer():
    from visiontk.face import detect, model

    assert face.DEFAULT_MAX_DISTANCE == model.DEFAULT_MAX_DISTANCE == 0.6
    assert face.DEFAULT_MIN_CONFIDENCE == detect.DEFAULT_MIN_CONFIDENCE == 0.92
    assert "DEFAULT_THRESHOLD" not in face.__all__
    with pytest.warns(DeprecationWarning, match="DEFAULT_MAX_DISTANCE"):
        assert face.DEFAULT_THRESHOLD == 0.6            # it was the distance here...
    with pytest.warns(DeprecationWarning, match="DEFAULT_MIN_CONFIDENCE"):
        assert detect.DEFAULT_THRESHOLD == 0.92         # ...and the detector's confidence there
    with pytest.raises(AttributeError):
        face.NO_SUCH_NAME


def test_face_model_max_distance_read_from_either_key_beside_a_trained_model(tmp_path):
    from visiontk.runtime import tensorflow

    tensorflow()
    import keras

    inputs = keras.Input((150, 150, 3))
    network = keras.Model(inputs, keras.layers.Dense(8)(keras.layers.GlobalAveragePooling2D()(inputs)))
    for key, name in (("max_distance", "new"), ("threshold", "old")):
        path = tmp_path / f"{name}.keras"
        network.save(path)
        path.with_suffix(".json").write_text(json.dumps({key: 0.45}))
        loaded = face.load_model(path)
        assert loaded.max_distance == 0.45 and loaded.name == name
        with pytest.warns(DeprecationWarning):
            assert loaded.threshold == 0.45
    bare = tmp_path / "bare.keras"
    network.save(bare)
    assert face.load_model(bare).max_distance == face.DEFAULT_MAX_DISTANCE


def test_embedding_set_round_trip(tmp_path):
    rows = EmbeddingSet("dlib-face-resnet")
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(3, 128)).astype(np.float32)
    for i, (path, index) in enumerate([("a.jpg", 0), ("b.jpg", 0), ("b.jpg", 1)]):
        rows.add(path, index, vectors[i], (10.5, 20, 110.25, 140 + i))
    out = rows.save(tmp_path / "emb.npz")
    back = EmbeddingSet.load(out)
    assert back.model == "dlib-face-resnet" and back.paths == ["a.jpg", "b.jpg", "b.jpg"] and back.faces == [0, 0, 1]
    np.testing.assert_array_equal(np.array(back.embeddings), vectors)
    assert back.boxes[2] == (10.5, 20.0, 110.25, 142.0)
    with np.load(out) as raw:    # plain arrays, readable without visiontk
        assert sorted(raw.files) == ["boxes", "embeddings", "face", "model", "paths"]
        assert raw["embeddings"].dtype == np.float32 and raw["boxes"].shape == (3, 4)
    with pytest.raises(BadInputError, match="output exists"):
        rows.save(out)
    assert EmbeddingSet("m").save(tmp_path / "empty.npz") and len(EmbeddingSet.load(tmp_path / "empty.npz")) == 0
    (tmp_path / "broken.npz").write_bytes(out.read_bytes()[:100])
    with pytest.raises(BadInputError, match="broken.npz: not a readable embeddings file"):
        EmbeddingSet.load(tmp_path / "broken.npz")
    with pytest.raises(BadInputError, match="written as .npz"):
        rows.save(tmp_path / "emb.json")


@pytest.mark.slow
def test_verify_and_embed_take_new_and_old_keywords(faces_dir):
    a, b = faces_dir / "obama_1.jpg", faces_dir / "obama_2.jpg"
    default = face.verify(a, b)
    assert default.same and default.max_distance == 0.6
    strict = face.verify(a, b, max_distance=default.distance / 2, min_confidence=0.95)
    assert not strict.same and strict.distance == pytest.approx(default.distance, abs=1e-6)
    with pytest.warns(DeprecationWarning) as caught:
        old = face.verify(a, b, threshold=default.distance / 2, detect_threshold=0.95)
    assert {str(w.message) for w in caught} >= {"threshold= is deprecated, use max_distance=",
                                                "detect_threshold= is deprecated, use min_confidence="}
    assert old.to_dict() == strict.to_dict()
    # Above every face's confidence nothing is found, under the old name and the new.
    assert face.embed_faces(a, min_confidence=1.0) == []
    with pytest.warns(DeprecationWarning):
        assert face.embed_faces(a, threshold=1.0) == []


@pytest.mark.slow
def test_cli_old_flags_and_the_embeddings_file(run_cli, faces_dir, tmp_path):
    a, b = faces_dir / "obama_1.jpg", faces_dir / "obama_2.jpg"
    for flag in ("--max-distance", "--threshold"):
        result = run_cli("face", "verify", a, b, flag, "0.1", "--json")
        record = json.loads(result.stdout)
        assert result.exit_code == 1 and record["max_distance"] == record["threshold"] == 0.1
    assert "--threshold" not in run_cli("face", "verify", "--help").stdout
    out = tmp_path / "emb.npz"
    assert run_cli("face", "embed", a, b, "-o", out, "--detect-threshold", "0.95").exit_code == 0
    saved = EmbeddingSet.load(out)
    assert saved.paths == [str(a), str(b)] and saved.model == "dlib-face-resnet"
    assert np.linalg.norm(saved.embeddings[0] - saved.embeddings[1]) == pytest.approx(
        face.verify(a, b).distance, abs=1e-5)


def test_pair_verdicts_and_eval_metrics_name_the_distance_max_distance():
    import dataclasses

    import numpy as np

    from visiontk.face.evaluate import Pair, PairVerdict, metrics

    pair = Pair(**{field.name: None for field in dataclasses.fields(Pair)})
    verdict = PairVerdict(pair, 0.6, distance=0.5)
    assert verdict.same and verdict.max_distance == 0.6
    with pytest.warns(DeprecationWarning, match="PairVerdict.threshold is deprecated"):
        assert verdict.threshold == 0.6
    result = metrics(np.array([0.2, 0.3, 0.8, 0.9]), np.array([True, True, False, False]), 0.6)
    assert result["max_distance"] == result["threshold"] == 0.6 and result["accuracy"] == 1.0
