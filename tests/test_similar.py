"""visiontk similar: hashes, descriptors' pooling, the index file (incremental, shards, merge), search
engines, duplicate groups and setting copies aside. Mechanics use a tiny random network; the duplicate
test uses the real ImageNet VGG16 on real photos."""
from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from visiontk import similar
from visiontk.backbones.descriptors import gem, mac, pool, rmac, rmac_regions
from visiontk.imageio import read_image
from visiontk.similar.engine import NearestNeighbours, exact_search, faiss_available
from visiontk.similar.hashing import hamming, perceptual_hashes


@pytest.fixture(scope="session")
def photos(shared) -> list[Path]:
    return sorted((shared / "data" / "sr-train" / "bsds500" / "test").glob("*.jpg"))[:6]


@pytest.fixture
def library(tmp_path, photos) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for photo in photos[:4]:
        shutil.copy(photo, folder / photo.name)
    return folder


@pytest.fixture
def tiny_network(monkeypatch):
    """A random 2-layer network in place of the ImageNet backbone (mechanics only)."""
    import keras

    keras.utils.set_random_seed(0)
    rgb = keras.Input(shape=(None, None, 3))
    x = keras.layers.Conv2D(8, 5, strides=4, activation="relu")(rgb / 255.0)
    network = keras.Model(rgb, keras.layers.Conv2D(16, 3, strides=2, activation="relu")(x))
    monkeypatch.setattr("visiontk.backbones.descriptors.feature_map_model", lambda name: network)
    return network


# ---- hashes and pooling ---------------------------------------------------------------------------------

def test_hashes_follow_rotations_and_flips(photos):
    image = read_image(photos[0])
    hashes = perceptual_hashes(image)
    assert hashes.shape == (8,) and hashes.dtype == np.uint64
    for turned, symmetry in ((np.fliplr(image), 1), (np.rot90(image, -1), 5), (np.rot90(image, 1), 6),
                             (np.rot90(image, 2), 3)):
        assert hamming(hashes[symmetry], perceptual_hashes(np.ascontiguousarray(turned))[0]) <= 2
    other = perceptual_hashes(read_image(photos[1]))
    assert hamming(hashes[:, None], other[None, :1]).min() > 12


def test_pooling_gives_unit_vectors_between_average_and_max():
    maps = np.random.default_rng(0).random((2, 6, 9, 4)).astype(np.float32)
    for pooled in (gem(maps), mac(maps), rmac(maps), pool(maps, "gem")):
        assert pooled.shape == (2, 4) and np.allclose(np.linalg.norm(pooled, axis=1), 1, atol=1e-5)
    regions = rmac_regions(6, 9)
    assert (0, 0, 6, 9) in regions and all(t + h <= 6 and l + w <= 9 for t, l, h, w in regions)


# ---- the index file --------------------------------------------------------------------------------------

def test_index_is_incremental(tmp_path, library, photos, tiny_network):
    out = tmp_path / "lib.vtkidx"
    first = similar.index(sorted(library.iterdir()), out)
    assert (first.added, first.unchanged, len(first.index)) == (4, 0, 4)
    files = sorted(library.iterdir())
    os.utime(files[0], ns=(time.time_ns(), time.time_ns() + 10**9))        # touched: same content
    Image.open(photos[5]).save(files[1])                                     # changed content
    files[2].unlink()                                                        # gone
    shutil.copy(photos[4], library / photos[4].name)                         # new
    second = similar.index(sorted(library.iterdir()), out)
    assert (second.added, second.changed, second.unchanged, second.removed) == (1, 1, 2, 1)
    stored = similar.load_index(out)
    assert sorted(stored.paths) == sorted(str(p.resolve()) for p in library.iterdir())
    changed = stored.paths.index(str(files[1].resolve()))
    fresh = similar.index([files[1]]).index
    assert np.allclose(stored.descriptors[changed], fresh.descriptors[0], atol=1e-5)
    assert oct(out.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_shards_merge_into_the_whole_index(tmp_path, library, tiny_network, run_cli):
    for k in (0, 1):
        result = run_cli("similar", "index", library, "--shard", f"{k}/2", "--out", tmp_path / f"p{k}.vtkidx",
                         "--json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["images"] == 2
    result = run_cli("similar", "merge", tmp_path / "p0.vtkidx", tmp_path / "p1.vtkidx", "--out",
                     tmp_path / "all.vtkidx")
    assert result.exit_code == 0, result.output
    whole = similar.index(sorted(library.iterdir())).index
    merged = similar.load_index(tmp_path / "all.vtkidx")
    order = [merged.paths.index(p) for p in whole.paths]
    assert np.allclose(merged.descriptors[order], whole.descriptors, atol=1e-5)
    assert (merged.hashes[order] == whole.hashes).all()


def test_index_refuses_other_settings_and_bad_files(tmp_path, library, tiny_network, run_cli):
    out = tmp_path / "lib.vtkidx"
    assert run_cli("similar", "index", library, "--out", out, "--size", "128").exit_code == 0
    result = run_cli("similar", "index", library, "--out", out, "--size", "256")
    assert result.exit_code == 2 and "--size 128" in result.stderr
    broken = tmp_path / "broken.vtkidx"
    broken.write_bytes(b"not a zip")
    result = run_cli("similar", "search", library / sorted(os.listdir(library))[0], "--index", broken)
    assert result.exit_code == 3 and "not a readable visiontk index" in result.stderr
    assert run_cli("similar", "index", library, "--out", tmp_path / "x.npz").exit_code == 3
    assert run_cli("similar", "dupes").exit_code == 2
    (library / "junk.jpg").write_bytes(b"junk")
    result = run_cli("similar", "index", library, "--out", out, "--continue-on-error", "--json")
    assert result.exit_code == 5
    assert json.loads(result.stdout.splitlines()[-1])["images"] == 4


def test_search_json_is_strict_and_skips_the_query_itself(tmp_path, library, tiny_network, run_cli):
    out = tmp_path / "lib.vtkidx"
    run_cli("similar", "index", library, "--out", out)
    query = sorted(library.iterdir())[0]
    result = run_cli("similar", "search", query, "--index", out, "-k", "2", "--json", "--sheet",
                     tmp_path / "hits.jpg")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["ok"] and len(record["results"]) == 2
    assert str(query.resolve()) not in [hit["path"] for hit in record["results"]]
    assert Image.open(tmp_path / "hits.jpg").size[0] > 300
    if faiss_available():   # the faiss engines give the same answer on a small library
        library = similar.load_index(out)
        answers = {engine: similar.search(library, [query], k=3, engine=engine)[0].to_dict()
                   for engine in ("exact", "hnsw", "ivf")}
        assert answers["hnsw"] == answers["exact"] == answers["ivf"]


# ---- engines -----------------------------------------------------------------------------------------------

def test_exact_search_ranks_by_inner_product():
    vectors = np.eye(4, dtype=np.float32)
    scores, rows = exact_search(vectors, np.array([[0.1, 0.9, 0.3, 0]], np.float32), 3)
    assert rows.tolist() == [[1, 2, 0]] and np.allclose(scores, [[0.9, 0.3, 0.1]])


@pytest.mark.skipif(not faiss_available(), reason="faiss-cpu not installed (the `similar` extra)")
@pytest.mark.parametrize("engine", ["hnsw", "ivf"])
def test_faiss_finds_the_exact_top_results(engine):
    from visiontk.backbones.descriptors import l2_normalize

    rng = np.random.default_rng(1)
    centres = rng.standard_normal((40, 64)).astype(np.float32)   # descriptors of photos cluster
    vectors = l2_normalize(centres[rng.integers(0, 40, 2000)] + 0.6 * rng.standard_normal((2000, 64)))
    queries = l2_normalize(vectors[:50] + 0.05 * rng.standard_normal((50, 64)).astype(np.float32))
    _, exact = NearestNeighbours(vectors, "exact").search(queries, 5)
    approximate = NearestNeighbours(vectors, engine)
    _, found = approximate.search(queries, 5)
    assert (found[:, 0] == exact[:, 0]).all()
    assert np.mean([len(set(a) & set(b)) / 5 for a, b in zip(found, exact)]) >= 0.95


# ---- duplicates, with the real network ------------------------------------------------------------------

@pytest.mark.slow
def test_a_cropped_jpeg_copy_is_found_and_set_aside_never_deleted(tmp_path, library, shared_weights, run_cli):
    original = sorted(library.iterdir())[0]
    with Image.open(original) as image:
        width, height = image.size
        image.crop((width // 8, height // 8, width * 7 // 8, height * 7 // 8)).save(
            library / "copy.jpg", quality=40)
    before = sorted(p.name for p in library.iterdir())
    out, moved = tmp_path / "lib.vtkidx", tmp_path / "aside"
    result = run_cli("similar", "dupes", library, "--index", out, "--json", "--csv", tmp_path / "d.csv",
                     "--move-to", moved)
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    groups = [line for line in lines if "keep" in line]
    assert [(g["keep"], g["duplicates"]) for g in groups] == [(str(original.resolve()),
                                                              [str((library / "copy.jpg").resolve())])]
    assert sorted(p.name for p in library.iterdir()) + [p.name for p in moved.iterdir()] == sorted(before)
    assert (moved / "copy.jpg").is_file()
    assert "group,path,keep" in (tmp_path / "d.csv").read_text()
    again = run_cli("similar", "index", library, "--out", out, "--json")
    assert json.loads(again.stdout)["removed"] == 1


def test_an_index_of_hashes_alone_finds_rotated_copies_without_a_network(tmp_path, library, run_cli):
    original = sorted(library.iterdir())[1]
    with Image.open(original) as image:
        image.rotate(90, expand=True).resize((200, 300)).save(library / "turned.png")
    out = tmp_path / "hashes.vtkidx"
    result = run_cli("similar", "dupes", library, "--index", out, "--backbone", "none", "--json")
    assert result.exit_code == 0, result.output
    groups = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(g["keep"], g["duplicates"]) for g in groups] == [(str(original.resolve()),
                                                              [str((library / "turned.png").resolve())])]
    assert similar.load_index(out).descriptors.shape == (5, 0)
    result = run_cli("similar", "search", original, "--index", out)
    assert result.exit_code == 2 and "hashes alone" in result.stderr


def test_the_copy_kept_is_the_photo_not_its_screenshot(tmp_path, photos):
    from visiontk.similar.duplicates import content_pixels

    with Image.open(photos[0]) as photo:
        window = Image.new("RGB", (photo.width + 80, photo.height + 120), (236, 236, 236))
        window.paste((60, 60, 70), (0, 0, window.width, 40))                    # a title bar
        window.paste(photo, (40, 80))
        window.save(tmp_path / "screenshot.png")
        assert content_pixels(str(tmp_path / "screenshot.png")) == photo.width * photo.height
