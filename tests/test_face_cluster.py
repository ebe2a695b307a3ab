"""`face cluster`: Chinese whispers on embeddings, pairwise precision/recall against known identities,
and the command (files, folders, `-`, --json, --continue-on-error, --sheet, --enroll-into)."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image

from visiontk.face.cluster import NOISE, chinese_whispers, cluster_embeddings, pairwise_distances, pairwise_scores


def test_chinese_whispers_finds_separate_groups_and_noise():
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(3, 16)) * 3
    points = np.concatenate([c + rng.normal(scale=0.05, size=(n, 16)) for c, n in zip(centres, (6, 4, 2))])
    points = np.concatenate([points, [[40.0] * 16]])        # a lone point
    labels = chinese_whispers(points, 0.6)
    assert labels.tolist() == [0] * 6 + [1] * 4 + [2] * 2 + [3]
    assert chinese_whispers(points, 0.6, min_size=3).tolist() == [0] * 6 + [1] * 4 + [NOISE] * 3
    assert chinese_whispers(points[:0], 0.6).tolist() == []


def _average_linkage_by_hand(points: np.ndarray, max_distance: float) -> list[set[int]]:
    """The definition, slowly: join the two groups of least mean pairwise distance while it is small enough."""
    distances = pairwise_distances(points)
    groups = [{i} for i in range(len(points))]
    while len(groups) > 1:
        pairs = [(distances[np.ix_(list(a), list(b))].mean(), i, j)
                 for i, a in enumerate(groups) for j, b in enumerate(groups) if i < j]
        best, i, j = min(pairs)
        if best > max_distance:
            break
        groups[i] |= groups.pop(j)
    return sorted(groups, key=min)


def test_average_linkage_is_the_definition_and_one_close_pair_does_not_merge_two_people():
    rng = np.random.default_rng(3)
    points = rng.normal(size=(40, 8))
    for distance in (2.5, 3.5, 4.5):
        labels = cluster_embeddings(points, distance)
        found = sorted(({i for i in range(40) if labels[i] == c} for c in set(labels.tolist())), key=min)
        assert found == _average_linkage_by_hand(points, distance)
    # Two people of five faces each, 1.0 apart, and one face of each only 0.5 from the other person's
    # nearest face: within 0.6 of each other, but on average the two groups are far apart.
    a = np.zeros((5, 4)); a[:, 1] = np.linspace(0, 0.2, 5)
    b = a.copy(); b[:, 0] = 1.0
    a[0, 0], b[0, 0] = 0.25, 0.75
    points = np.concatenate([a, b])
    assert pairwise_distances(points)[0, 5] == pytest.approx(0.5)
    assert cluster_embeddings(points, 0.6).tolist() == [0] * 5 + [1] * 5
    assert cluster_embeddings(points, 0.6, min_size=6).tolist() == [NOISE] * 10
    assert cluster_embeddings(points[:0]).tolist() == []


def test_pairwise_scores():
    scores = pairwise_scores([0, 0, 0, 1, NOISE], ["a", "a", "b", "b", "b"])
    # Put together: 3 pairs (1 right). Same person: a-a, b-b three times = 4 pairs.
    assert (scores.predicted_pairs, scores.true_pairs) == (3, 4)
    assert scores.precision == pytest.approx(1 / 3) and scores.recall == pytest.approx(1 / 4)


@pytest.fixture(scope="module")
def clustered(shared, tmp_path_factory):
    """`face cluster` over the whole shared folder once, with --json and --sheet."""
    from click.testing import CliRunner

    from visiontk.cli.main import cli
    sheet = tmp_path_factory.mktemp("cluster") / "sheet.png"
    result = CliRunner().invoke(cli, ["face", "cluster", str(shared / "data" / "faces"), "--json",
                                      "--sheet", str(sheet)], catch_exceptions=False)
    return result, sheet


@pytest.mark.slow
def test_cluster_the_shared_photos_into_their_people(clustered, shared):
    result, sheet = clustered
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert all(set(r) == {"input", "ok", "face", "box", "cluster"} and r["ok"] for r in records)
    with open(shared / "data" / "faces" / "identities.csv") as handle:
        known = {row["file"]: row["identity"] for row in csv.DictReader(handle)}
    labelled = [r for r in records if r["input"].split("/")[-1] in known]
    assert len(labelled) == len(known)      # one face in each labelled photo
    scores = pairwise_scores([r["cluster"] for r in labelled], [known[r["input"].split("/")[-1]] for r in labelled])
    assert scores.f1 >= 0.95, scores
    assert Image.open(sheet).size[0] > 0


@pytest.mark.slow
def test_cluster_stdin_continue_on_error_and_enroll(run_cli, shared, tmp_path):
    from visiontk.face.gallery import Gallery
    faces = shared / "data" / "faces"
    listing = "\n".join(str(faces / n) for n in ("obama_6.jpg", "biden_2.jpg", "obama_5.jpg")) + "\n"
    gallery = tmp_path / "people.npz"
    result = run_cli("face", "cluster", "-", tmp_path / "missing.jpg", "--json", "--continue-on-error",
                     "--enroll-into", gallery, "--name", "0=obama", input=listing)
    assert result.exit_code == 5
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["ok"] for r in lines].count(False) == 1
    clusters = {r["input"].split("/")[-1]: r["cluster"] for r in lines if r["ok"]}
    assert clusters == {"obama_6.jpg": 0, "obama_5.jpg": 0, "biden_2.jpg": 1}
    assert Gallery.load(gallery).people() == {"obama": 2}


def test_cluster_usage_errors(run_cli, shared, tmp_path):
    photo = shared / "data" / "faces" / "obama_6.jpg"
    assert run_cli("face", "cluster", photo, "--name", "0=obama").exit_code == 2
    assert run_cli("face", "cluster", photo, "--enroll-into", tmp_path / "g.npz", "--name", "zero").exit_code == 2
    assert run_cli("face", "cluster", photo, "--enroll-into", tmp_path / "g.txt").exit_code == 3
