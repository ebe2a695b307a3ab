"""Galleries and pairs files under stress: concurrent enrolls lose no one, damaged gallery files and
pairs files are one-line bad-input errors (exit 3), and search over many people is one matrix product
that agrees with the plain distances."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from visiontk.errors import BadInputError
from visiontk.face.gallery import Gallery

ROOT = Path(__file__).resolve().parents[1]


def _unit(rng, count, size=128):
    vectors = rng.normal(size=(count, size)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_identify_many_agrees_with_plain_distances():
    rng = np.random.default_rng(0)
    gallery = Gallery("m")
    gallery.add_many([f"p{i}" for i in range(500)], _unit(rng, 500))
    queries = _unit(rng, 20)
    queries[:5] = gallery.embeddings[[3, 7, 11, 200, 499]] + 0.01
    found = gallery.identify_many(queries, max_distance=0.6)
    for query, match in zip(queries, found):
        distances = np.linalg.norm(gallery.embeddings - query, axis=1)
        assert match.nearest == f"p{int(np.argmin(distances))}"
        assert match.distance == pytest.approx(distances.min(), abs=1e-4)
    assert [m.name for m in found[:5]] == ["p3", "p7", "p11", "p200", "p499"]
    assert all(m.name == "unknown" for m in found[5:])   # random unit vectors are ~1.4 apart
    single = gallery.identify(queries[0], 0.6)
    assert single.name == found[0].name and single.distance == pytest.approx(found[0].distance, abs=1e-5)


_ENROLL = textwrap.dedent("""
    import sys, time
    import numpy as np
    from visiontk.face.gallery import Gallery
    path, name = sys.argv[1], sys.argv[2]
    with Gallery.update(path, model="m") as gallery:
        time.sleep(0.3)   # hold the read-modify-write open so that the writers overlap
        gallery.add(name, np.full(4, len(name), np.float32), name)
""")


def test_concurrent_updates_lose_no_one(tmp_path):
    path = tmp_path / "new folder" / "people.npz"   # the first writer makes the folder
    names = [f"person{i}" for i in range(5)]
    procs = [subprocess.Popen([sys.executable, "-c", _ENROLL, str(path), name]) for name in names]
    assert [p.wait(timeout=120) for p in procs] == [0] * len(names)
    assert sorted(Gallery.load(path).names) == names


@pytest.mark.slow
def test_concurrent_cli_enrolls_lose_no_one(shared, tmp_path):
    faces = shared / "data" / "faces"
    gallery = tmp_path / "people.json"
    runs = {"obama": "obama_6.jpg", "biden": "biden_2.jpg", "rose": "rose_leslie_2.jpg"}
    procs = [subprocess.Popen([sys.executable, "-m", "visiontk", "-q", "face", "enroll", "--gallery", str(gallery),
                               name, str(faces / photo)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for name, photo in runs.items()]
    for proc in procs:
        assert proc.wait(timeout=600) == 0, proc.stderr.read()
    assert sorted(Gallery.load(gallery).names) == sorted(runs)


def _damaged(tmp_path: Path) -> dict[str, Path]:
    good = Gallery("dlib-face-resnet")
    good.add_many(["a", "b"], np.eye(2, 128, dtype=np.float32), ["x", "y"])
    whole = good.save(tmp_path / "good.npz").read_bytes()
    files = {"truncated.npz": whole[: len(whole) // 2], "empty.npz": b"",
             "junk.json": b"{not json", "list.json": b"[1, 2]",
             "ragged.json": json.dumps({"model": "m", "faces": [{"name": "a", "embedding": [1, 2]},
                                                                 {"name": "b", "embedding": [1]}]}).encode(),
             "words.json": json.dumps({"model": "m", "faces": [{"name": "a", "embedding": ["x"]}]}).encode(),
             "short_vectors.json": _json_gallery("dlib-face-resnet", 64)}
    paths = {}
    for name, data in files.items():
        paths[name] = tmp_path / name
        paths[name].write_bytes(data)
    with open(tmp_path / "flat.npz", "wb") as handle:   # embeddings of the wrong shape
        np.savez(handle, model=np.array("m"), names=np.array(["a", "b"]), sources=np.array(["", ""]),
                 embeddings=np.zeros(256, np.float32))
    with open(tmp_path / "short.npz", "wb") as handle:  # three names for two embeddings
        np.savez(handle, model=np.array("m"), names=np.array(["a", "b", "c"]), sources=np.array(["", "", ""]),
                 embeddings=np.zeros((2, 128), np.float32))
    paths["flat.npz"], paths["short.npz"] = tmp_path / "flat.npz", tmp_path / "short.npz"
    return paths


def _json_gallery(model: str, size: int) -> bytes:
    return json.dumps({"model": model, "faces": [{"name": "a", "embedding": [0.1] * size}]}).encode()


@pytest.mark.parametrize("size", [64, 129])
def test_gallery_of_another_embedding_size_is_refused_as_damaged(tmp_path, run_cli, shared, size):
    """Vectors that are not the model's length: exit 3 in one line before any photo is read (was exit 70)."""
    path = tmp_path / "people.json"
    path.write_bytes(_json_gallery("dlib-face-resnet", size))
    photo = shared / "data" / "faces" / "obama_1.jpg"
    for args in (("identify", "--gallery", path, photo), ("enroll", "--gallery", path, "obama", photo),
                 ("cluster", photo, "--enroll-into", path)):
        result = run_cli("face", *args)
        assert result.exit_code == 3, (args, result.output)
        assert "not a readable visiontk gallery" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    with pytest.raises(BadInputError, match=f"{size} values"):
        Gallery.load(path)
    other = Gallery("mine")
    other.add("a", np.ones(16, np.float32))
    other.save(tmp_path / "mine.npz")
    with pytest.raises(BadInputError, match="16 values, the model's have 128"):
        Gallery.load(tmp_path / "mine.npz", "mine", size=128)
    with pytest.raises(BadInputError, match="different models"):
        other.identify(np.ones(128, np.float32), 0.6)


def test_damaged_galleries_are_bad_input(tmp_path, run_cli):
    for name, path in _damaged(tmp_path).items():
        with pytest.raises(BadInputError, match="not a readable visiontk gallery"):
            Gallery.load(path)
        result = run_cli("face", "gallery", "list", "--gallery", path)
        assert result.exit_code == 3, (name, result.output)
        assert "Traceback" not in result.output and len(result.stderr.strip().splitlines()) == 1


def test_lfw_pairs_with_a_word_for_a_number_is_exit_3_with_the_line(tmp_path, run_cli):
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("1\t2\nObama\t1\t2\nObama\tone\tBiden\t1\n")
    result = run_cli("face", "verify", "--pairs", pairs)
    assert result.exit_code == 3
    assert f"{pairs}:3:" in result.stderr and "'one'" in result.stderr


def test_first_csv_row_of_missing_files_is_a_pair_not_a_header(tmp_path):
    from visiontk.face.evaluate import read_pairs
    pairs_file = tmp_path / "pairs.csv"
    pairs_file.write_text("gone_1.jpg,gone_2.jpg,yes\nb.jpg,c.jpg,no\n")
    pairs = read_pairs(pairs_file)
    assert [p.a.name for p in pairs] == ["gone_1.jpg", "b.jpg"] and pairs[0].same is True
    for header in ("file_x,file_y,same\n", "a,b\n", "left,right,label\n"):
        pairs_file.write_text(header + "b.jpg,c.jpg,no\n")
        assert [p.a.name for p in read_pairs(pairs_file)] == ["b.jpg"], header
