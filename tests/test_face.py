"""visiontk face: the dlib parser and Keras rebuild (exact against dlib), alignment, MTCNN detection,
verification on the shared photos, galleries, the commands, and the metrics."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from visiontk.errors import BadInputError, NoFaceError, WeightsError

SINGLE_FACE_PHOTOS = ["alex_lacamoire_1.jpg", "alex_lacamoire_2.jpg", "alex_lacamoire_3.png", "biden_1.jpg",
                      "biden_2.jpg", "kit_harington_1.jpg", "kit_harington_2.jpg", "kit_harington_3.jpg",
                      "lin_manuel_miranda_1.png", "obama_1.jpg", "obama_2.jpg", "obama_3.jpg", "obama_4.jpg",
                      "obama_5.jpg", "obama_6.jpg", "obama_7_partial.jpg", "rose_leslie_1.jpg",
                      "rose_leslie_2.jpg"]


@pytest.fixture(scope="session")
def faces_dir(shared) -> Path:
    return shared / "data" / "faces"


@pytest.fixture(scope="session")
def model():
    from visiontk.face import load_model
    return load_model()


@pytest.fixture(scope="session")
def detections(faces_dir):
    """Every shared photo through MTCNN once: {file name: (image, faces)}."""
    from visiontk.face import detect_faces, load_image
    found = {}
    for path in sorted(faces_dir.glob("*.*g")):
        image = load_image(path)
        found[path.name] = (image, detect_faces(image))
    return found


@pytest.fixture(scope="session")
def embeddings(detections, model):
    """The largest face of every photo, embedded: {file name: 128-D vector}."""
    from visiontk.face import face_chips
    return {name: model.embed_chips(face_chips(image, faces[:1]))[0]
            for name, (image, faces) in detections.items() if faces}


# ---- the dlib file and the Keras rebuild ----------------------------------------------------------------

def dlib_file() -> Path:
    from visiontk import weights
    return weights.resolve("dlib-face-resnet")


def test_parser_reads_the_real_file_structure():
    from visiontk.backbones.dlib_resnet import DLIB_FACE_STAGES, stage_plan
    from visiontk.face.dlib_format import read_dlib_network, residual_plan

    network = read_dlib_network(dlib_file())
    assert network.input_size == (150, 150)
    assert network.loss == "loss_metric_2" and network.distance_threshold == pytest.approx(0.6)
    assert np.allclose(network.input_mean, (122.782, 117.001, 104.298), atol=1e-3)
    assert residual_plan(network) == stage_plan(DLIB_FACE_STAGES)
    stem = network.layers[0]
    assert stem.settings == {"filters": 32, "rows": 7, "cols": 7, "stride_y": 2, "stride_x": 2,
                             "padding_y": 0, "padding_x": 0}
    assert stem.params.size == 32 * 3 * 7 * 7 + 32
    fc = network.layers[-1]
    assert fc.kind == "fc" and fc.settings == {"outputs": 128, "inputs": 256, "bias": False}


def test_parser_rejects_a_truncated_file(tmp_path):
    from visiontk.face.dlib_format import read_dlib_network
    broken = tmp_path / "broken.dat"
    broken.write_bytes(dlib_file().read_bytes()[:500_000])
    with pytest.raises(WeightsError, match="broken.dat"):
        read_dlib_network(broken)


@pytest.mark.slow
def test_keras_rebuild_matches_dlib_to_1e4(model, detections):
    """The same 150x150 chips through dlib and through our converted network."""
    dlib = pytest.importorskip("dlib")
    from visiontk.face import face_chips
    from visiontk.face.align import to_uint8

    image, faces = detections["obama_1.jpg"]
    chips = [to_uint8(face_chips(image, faces[:1])[0]),
             np.random.default_rng(0).integers(0, 256, (150, 150, 3), dtype=np.uint8)]
    reference = dlib.face_recognition_model_v1(str(dlib_file()))
    ours = model.embed_chips(np.stack(chips))
    for chip, mine in zip(chips, ours):
        theirs = np.array(reference.compute_face_descriptor(chip, 0))
        assert np.abs(theirs - mine).max() < 1e-4


def test_conversion_is_cached_by_source_hash(model, private_cache):
    converted = list((private_cache / "converted").glob("dlib-face-resnet-*.weights.h5"))
    from visiontk.weights.registry import digest
    assert [p.name for p in converted] == [f"dlib-face-resnet-{digest(dlib_file()).sha256[:16]}.weights.h5"]


# ---- alignment ------------------------------------------------------------------------------------------

def test_similarity_transform_recovers_rotation_scale_shift():
    from visiontk.face.align import chip_landmarks, similarity_transform
    points = chip_landmarks()
    angle, scale, shift = 0.3, 2.5, np.array([40.0, -12.0])
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = points @ rotation.T + shift
    matrix = similarity_transform(moved, points)
    assert np.allclose(moved @ matrix[:, :2].T + matrix[:, 2], points, atol=1e-9)


def test_chip_landmarks_follow_dlib_padding():
    from visiontk.face.align import MEAN_FACE, chip_landmarks
    assert np.allclose(chip_landmarks(), (MEAN_FACE + 0.25) / 1.5 * 150)


def test_align_samples_bilinearly_at_the_landmarks():
    """A gradient image: a chip pixel holds the image value at the inverse-transformed position."""
    from visiontk.face.align import align, chip_landmarks
    ys, xs = np.mgrid[0:300, 0:400].astype(np.float32)
    image = np.stack([xs * 0.5, ys * 0.5, np.full_like(xs, 7)], axis=-1)
    landmarks = chip_landmarks() * 1.5 + [60, 30]   # the face sits scaled by 1.5 and shifted
    chip = align(image, landmarks)
    assert chip.shape == (150, 150, 3) and chip.dtype == np.float32
    # chip (x, y) reads image (1.5 x + 60, 1.5 y + 30), a linear ramp: bilinear is exact on it.
    assert chip[40, 20, 0] == pytest.approx((1.5 * 20 + 60) * 0.5, abs=1e-3)
    assert chip[40, 20, 1] == pytest.approx((1.5 * 40 + 30) * 0.5, abs=1e-3)


# ---- detection on the shared photos -----------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("name", SINGLE_FACE_PHOTOS)
def test_single_face_photo_yields_one_face_with_landmarks_inside(detections, name):
    image, faces = detections[name]
    assert len(faces) == 1, [f.to_dict() for f in faces]
    left, top, right, bottom = faces[0].box
    x, y = faces[0].landmarks[:, 0], faces[0].landmarks[:, 1]
    assert np.all((x >= left) & (x <= right) & (y >= top) & (y <= bottom))
    assert faces[0].landmarks[0, 0] < faces[0].landmarks[1, 0]   # left eye on the image's left


@pytest.mark.slow
@pytest.mark.parametrize("name", ["group_two_people.jpg", "group_kit_with_rose.jpg"])
def test_group_photos_yield_two_faces(detections, name):
    assert len(detections[name][1]) == 2


@pytest.mark.slow
def test_no_face_photo(shared):
    from visiontk.face import detect_faces, embed, load_image
    coffee = shared / "data" / "content" / "coffee.png"
    assert detect_faces(load_image(coffee)) == []
    with pytest.raises(NoFaceError, match="coffee.png: no face found .try a smaller `min_face` or a lower "
                                          "`min_confidence`"):   # Python's names; the CLI says --min-face
        embed(coffee)


# ---- verification on all 153 pairs ----------------------------------------------------------------------

@pytest.mark.slow
def test_all_pairs_are_answered_correctly_at_06(faces_dir, embeddings):
    from visiontk.face import face_distance
    with open(faces_dir / "pairs.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 153
    distances = [face_distance(embeddings[r["file_x"]], embeddings[r["file_y"]]) for r in rows]
    wrong = [(r["file_x"], r["file_y"], d) for r, d in zip(rows, distances)
             if (d <= 0.6) != (r["same"] == "yes")]
    assert wrong == []


def test_compare_faces_and_distance():
    from visiontk.face import compare_faces, face_distance
    known = np.array([[0.0, 0.0], [1.0, 0.0]])
    assert compare_faces(known, np.array([0.1, 0.0])) == [True, False]
    assert compare_faces(known[0], np.array([0.1, 0.0])) == [True]
    assert face_distance(known[1], np.array([1.0, 0.5])) == pytest.approx(0.5)


# ---- galleries -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".npz", ".json"])
def test_gallery_round_trip_identify_and_remove(tmp_path, suffix):
    from visiontk.face import UNKNOWN, Gallery
    gallery = Gallery("m")
    gallery.add("ann", np.ones(4), "a.jpg")
    gallery.add("ann", np.ones(4) * 1.1, "b.jpg")
    gallery.add("bob", -np.ones(4), "c.jpg")
    path = gallery.save(tmp_path / f"g{suffix}")
    loaded = Gallery.load(path, model="m")
    assert loaded.people() == {"ann": 2, "bob": 1}
    assert loaded.identify(np.ones(4) * 1.05, 0.6).name == "ann"
    assert loaded.identify(np.zeros(4), 0.6).name == UNKNOWN
    assert loaded.remove("ann") == 2 and loaded.people() == {"bob": 1}
    with pytest.raises(BadInputError, match="model 'm'"):
        Gallery.load(path, model="other")


def test_gallery_rejects_junk(tmp_path):
    from visiontk.face import Gallery
    junk = tmp_path / "g.npz"
    junk.write_bytes(b"not a zip")
    with pytest.raises(BadInputError, match="g.npz"):
        Gallery.load(junk)
    with pytest.raises(BadInputError, match="must end in"):
        Gallery.load(tmp_path / "g.txt")


# ---- metrics ----------------------------------------------------------------------------------------------

def test_metrics_on_known_distances():
    from visiontk.face.evaluate import best_threshold, metrics, roc_auc, tar_at_far
    same = np.array([True] * 5 + [False] * 5)
    separable = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.7, 0.8, 0.9, 1.0, 1.1])
    assert roc_auc(separable, same) == pytest.approx(1.0)
    assert 0.5 < best_threshold(separable, same) < 0.7
    assert tar_at_far(separable, same, 1e-3) == 1.0
    swapped = np.array([0.1, 0.2, 0.3, 0.4, 0.75, 0.7, 0.8, 0.9, 1.0, 1.1])
    assert tar_at_far(swapped, same, 1e-3) == pytest.approx(0.8)
    assert roc_auc(swapped, same) == pytest.approx(0.96)
    result = metrics(separable, same, 0.6)
    assert result["accuracy"] == 1.0 and result["cv_accuracy"] == 1.0


def test_read_pairs_csv_and_lfw(tmp_path):
    from visiontk.face.evaluate import read_pairs
    (tmp_path / "pairs.csv").write_text("file_x,file_y,same\na.jpg,b.jpg,yes\na.jpg,c.jpg,no\n")
    pairs = read_pairs(tmp_path / "pairs.csv")
    assert [(p.a.name, p.b.name, p.same) for p in pairs] == [("a.jpg", "b.jpg", True),
                                                             ("a.jpg", "c.jpg", False)]
    (tmp_path / "pairs.txt").write_text("1\t2\nAbel\t1\t2\nAbel\t1\tBob\t3\n")
    pairs = read_pairs(tmp_path / "pairs.txt", root=tmp_path / "lfw")
    assert pairs[0].a == tmp_path / "lfw" / "Abel" / "Abel_0001.jpg" and pairs[0].same
    assert pairs[1].b == tmp_path / "lfw" / "Bob" / "Bob_0003.jpg" and pairs[1].same is False
    (tmp_path / "bad.csv").write_text("only-one-column\n")
    with pytest.raises(BadInputError, match="bad.csv"):
        read_pairs(tmp_path / "bad.csv")


# ---- the commands ----------------------------------------------------------------------------------------

@pytest.mark.slow
def test_cli_verify_same_different_and_no_face(run_cli, faces_dir, shared):
    same = run_cli("face", "verify", faces_dir / "obama_1.jpg", faces_dir / "obama_2.jpg")
    assert same.exit_code == 0 and "same person" in same.stdout and "threshold 0.6" in same.stdout
    different = run_cli("face", "verify", faces_dir / "obama_1.jpg", faces_dir / "biden_1.jpg", "--json")
    assert different.exit_code == 1
    record = json.loads(different.stdout)
    assert record["same"] is False and record["distance"] > 0.6
    none = run_cli("face", "verify", faces_dir / "obama_1.jpg", shared / "data" / "content" / "coffee.png")
    assert none.exit_code == 3
    assert "coffee.png: no face found" in none.stderr and "Traceback" not in none.stderr
    assert "try a smaller --min-face or a lower --min-confidence" in none.stderr   # flags, not parameters


@pytest.mark.slow
def test_cli_verify_pairs_lfw_format(run_cli, faces_dir, shared, tmp_path):
    root = tmp_path / "lfw"
    people = {"Obama": [faces_dir / "obama_5.jpg", faces_dir / "obama_6.jpg"], "Biden": [faces_dir / "biden_2.jpg"],
              "Cup": [shared / "data" / "content" / "coffee.png"]}
    for person, files in people.items():
        (root / person).mkdir(parents=True)
        for i, source in enumerate(files, start=1):
            (root / person / f"{person}_{i:04d}.jpg").symlink_to(source)
    (tmp_path / "pairs.txt").write_text("1\t1\nObama\t1\t2\nObama\t1\tBiden\t1\n")
    result = run_cli("face", "verify", "--pairs", tmp_path / "pairs.txt", "--root", root, "--json")
    assert result.exit_code == 0
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["same"] for r in records] == [True, False] == [r["expected"] for r in records]
    assert "2 of 2 labelled pairs answered correctly at threshold 0.6" in result.stderr

    # A pair with a faceless image is reported and the others still answered; exit 5 at the end.
    (tmp_path / "pairs.txt").write_text("2\t1\nObama\t1\tCup\t1\nObama\t1\t2\n")
    result = run_cli("face", "verify", "--pairs", tmp_path / "pairs.txt", "--root", root, "--json")
    assert result.exit_code == 5 and "1 of 2 pairs had an image without a face" in result.stderr
    failed, answered = [json.loads(line) for line in result.stdout.splitlines()]
    assert failed["ok"] is False and "no face found" in failed["error"] and answered["same"] is True
    assert "--min-face" in failed["error"] and "`" not in failed["error"]   # as a single pair says it


@pytest.mark.slow
def test_cli_enroll_identify_group_photo(run_cli, faces_dir, tmp_path):
    gallery = tmp_path / "people.npz"
    for name, photos in {"obama": ["obama_1.jpg", "obama_4.jpg"], "biden": ["biden_1.jpg"]}.items():
        result = run_cli("face", "enroll", "--gallery", gallery, name, *[faces_dir / p for p in photos])
        assert result.exit_code == 0, result.stderr
    listed = run_cli("face", "gallery", "list", "--gallery", gallery, "--json")
    assert json.loads(listed.stdout)["people"] == {"obama": 2, "biden": 1}
    drawn = tmp_path / "named.png"
    result = run_cli("face", "identify", "--gallery", gallery, faces_dir / "group_obama_and_biden.jpg",
                     "--draw", drawn, "--json")
    assert result.exit_code == 0, result.stderr
    names = [face["name"] for face in json.loads(result.stdout)["faces"]]
    # Obama and Biden, and the girl in the corner is nobody we enrolled.
    assert sorted(names) == ["biden", "obama", "unknown"]
    from PIL import Image
    assert Image.open(drawn).size == (2000, 1428)
    removed = run_cli("face", "gallery", "remove", "--gallery", gallery, "biden")
    assert removed.exit_code == 0
    again = run_cli("face", "identify", "--gallery", gallery, faces_dir / "group_obama_and_biden.jpg",
                    "--json")
    assert sorted(f["name"] for f in json.loads(again.stdout)["faces"]) == ["obama", "unknown", "unknown"]
    missing = run_cli("face", "gallery", "remove", "--gallery", gallery, "nobody")
    assert missing.exit_code == 3 and "nobody" in missing.stderr


@pytest.mark.slow
def test_cli_detect_draw_crops_and_embed(run_cli, faces_dir, tmp_path, shared):
    from PIL import Image
    group = faces_dir / "group_two_people.jpg"
    result = run_cli("face", "detect", group, "--draw", tmp_path / "faces.png", "--crops", tmp_path / "crops",
                     "--json")
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert len(record["faces"]) == 2 and set(record["faces"][0]["landmarks"]) == {
        "left_eye", "right_eye", "nose", "mouth_left", "mouth_right"}
    assert Image.open(tmp_path / "faces.png").size == Image.open(group).size
    assert sorted(p.name for p in (tmp_path / "crops").iterdir()) == ["group_two_people_face0.png",
                                                                        "group_two_people_face1.png"]
    assert Image.open(tmp_path / "crops" / "group_two_people_face0.png").size == (150, 150)
    again = run_cli("face", "detect", group, "--draw", tmp_path / "faces.png")
    assert again.exit_code == 3 and "exists" in again.stderr

    out = tmp_path / "e.npz"
    coffee = shared / "data" / "content" / "coffee.png"
    failed = run_cli("face", "embed", faces_dir / "obama_6.jpg", coffee, "-o", out)
    assert failed.exit_code == 3 and not out.exists()       # nothing half-written
    done = run_cli("face", "embed", faces_dir / "obama_6.jpg", coffee, "-o", out, "--continue-on-error")
    assert done.exit_code == 5
    with np.load(out) as data:
        assert data["embeddings"].shape == (1, 128)
        assert list(data["paths"]) == [str(faces_dir / "obama_6.jpg")]


@pytest.mark.slow
def test_cli_eval_reports_metrics_and_roc(run_cli, faces_dir, tmp_path):
    subset = tmp_path / "pairs.csv"
    names = ["obama_5.jpg", "obama_6.jpg", "biden_2.jpg", "kit_harington_2.jpg", "kit_harington_1.jpg"]
    identity = {n: n.rsplit("_", 1)[0] for n in names}
    rows = [f"{faces_dir / a},{faces_dir / b},{'yes' if identity[a] == identity[b] else 'no'}"
            for i, a in enumerate(names) for b in names[i + 1:]]
    subset.write_text("file_x,file_y,same\n" + "\n".join(rows) + "\n")
    result = run_cli("face", "eval", subset, "--root", "/", "--roc", tmp_path / "roc.png", "--json")
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["pairs"] == 10 and record["accuracy"] == 1.0 and record["roc_auc"] == 1.0
    assert record["tar_at_far_1e-3"] == 1.0
    assert (tmp_path / "roc.png").stat().st_size > 0


def test_cli_verify_usage_errors(run_cli, tmp_path):
    assert run_cli("face", "verify", "only-one.jpg").exit_code == 2
    missing = run_cli("face", "verify", tmp_path / "nope.jpg", tmp_path / "nope2.jpg")
    assert missing.exit_code == 3 and "nope.jpg: no such file" in missing.stderr


@pytest.mark.slow
def test_cli_enroll_failure_leaves_the_gallery_untouched(run_cli, faces_dir, shared, tmp_path):
    gallery = tmp_path / "people.json"
    assert run_cli("face", "enroll", "--gallery", gallery, "obama", faces_dir / "obama_6.jpg").exit_code == 0
    before = gallery.read_bytes()
    coffee = shared / "data" / "content" / "coffee.png"
    failed = run_cli("face", "enroll", "--gallery", gallery, "obama", faces_dir / "obama_5.jpg", coffee)
    assert failed.exit_code == 3 and "coffee.png: no face found (try a smaller --min-face" in failed.stderr
    assert gallery.read_bytes() == before
    partial = run_cli("face", "enroll", "--gallery", gallery, "obama", faces_dir / "obama_5.jpg", coffee,
                      "--continue-on-error")
    assert partial.exit_code == 5
    assert json.loads(gallery.read_text())["faces"][1]["source"] == str(faces_dir / "obama_5.jpg")


@pytest.mark.slow
def test_cli_detect_min_face_and_threshold(run_cli, faces_dir):
    small = faces_dir / "obama_6.jpg"     # one face about 106 pixels wide
    found = json.loads(run_cli("face", "detect", small, "--json").stdout)["faces"]
    assert len(found) == 1
    assert json.loads(run_cli("face", "detect", small, "--min-face", "150", "--json").stdout)["faces"] == []
    above = found[0]["confidence"] + 1e-4   # confidences are printed to 4 decimals
    strict = run_cli("face", "detect", small, "--threshold", str(min(above, 1.0)), "--json")
    assert json.loads(strict.stdout)["faces"] == []


def test_library_verbs_for_one_photo_and_for_many(faces_dir, model, tmp_path):
    """What `face detect`, `face identify` and `face cluster` do, as library calls: one input, one record."""
    from visiontk import face

    record = face.detect_photo(faces_dir / "group_two_people.jpg", draw=tmp_path / "drawn.png",
                               crops=tmp_path / "chips")
    assert len(record["faces"]) == 2 and (tmp_path / "drawn.png").stat().st_size > 0
    assert [Path(p).name for p in record["crops"]] == ["group_two_people_face0.png", "group_two_people_face1.png"]
    gallery = face.Gallery(model.name)
    gallery.add("obama", face.embed(faces_dir / "obama_1.jpg", model=model).embedding)
    named = face.identify_photo(faces_dir / "obama_5.jpg", gallery, model)
    assert [f["name"] for f in named["faces"]] == ["obama"] and set(named["faces"][0]) == \
        {"box", "name", "distance", "nearest"}

    photos = [faces_dir / n for n in ("obama_6.jpg", "biden_2.jpg", "obama_5.jpg")]
    people = face.cluster_faces(photos, model=model, keep_chips=True)
    assert [f.cluster for f in people.faces] == [0, 1, 0]
    assert people.sheet().size[0] > 0 and list(people.groups()) == [0, 1]
    assert people.enroll(tmp_path / "people.npz", {0: "obama"}) == (2, 1)
    assert face.Gallery.load(tmp_path / "people.npz").people() == {"obama": 2}
    with pytest.raises(BadInputError, match="no cluster 7"):
        people.enroll(tmp_path / "people.npz", {7: "nobody"})


def test_drawn_path_names_a_file_for_one_input_and_a_folder_for_several(tmp_path):
    from visiontk.face.files import drawn_path

    assert drawn_path(tmp_path / "out.png", "a/b.jpg", many=False, suffix="_faces") == tmp_path / "out.png"
    assert drawn_path(tmp_path, "a/b.jpg", many=False, suffix="_faces") == tmp_path / "b_faces.png"
    assert drawn_path(tmp_path / "d", "a/clip.mp4", many=True, suffix="_named") == tmp_path / "d" / "clip_named.mp4"


def test_the_commands_jobs_as_library_verbs(faces_dir, model, tmp_path):
    """What `face detect`, `embed`, `enroll`, `identify`, `gallery remove`, `cluster` and `eval` do, called
    from Python: the verbs decide photo or clip, check outputs and galleries first, and write atomically."""
    from visiontk import face
    from visiontk.errors import UsageError

    obama, biden = faces_dir / "obama_1.jpg", faces_dir / "biden_1.jpg"
    assert face.detect_file(obama)["faces"] == face.detect_photo(obama)["faces"]
    assert [i for i, _ in face.embed_photo(faces_dir / "group_two_people.jpg", model, all_faces=True)] == [0, 1]
    with pytest.raises(NoFaceError):
        face.embed_photo(faces_dir / "obama_1.jpg", model, all_faces=True, min_confidence=1.0)

    gallery = tmp_path / "people.npz"
    with pytest.raises(UsageError, match="name"):
        face.Enrolment(gallery, "unknown", model)
    with pytest.raises(BadInputError, match="no such gallery"):
        face.Gallery.for_model(gallery, model)
    job = face.Enrolment(gallery, "obama", model)
    job.add(obama)
    with pytest.raises(NoFaceError):
        job.add(faces_dir.parent / "content" / "coffee.png")
    assert not gallery.exists() and job.save() == 1   # nothing is written before save
    assert face.enroll(gallery, "biden", [biden], model) == 1
    named = face.identify_file(faces_dir / "group_obama_and_biden.jpg", face.Gallery.for_model(gallery, model), model,
                               draw=tmp_path / "named.png")
    assert sorted(f["name"] for f in named["faces"]) == ["biden", "obama", "unknown"]
    assert face.remove_person(gallery, "biden") == 1
    with pytest.raises(BadInputError, match="no one named 'biden'"):
        face.remove_person(gallery, "biden")
    assert face.Gallery.load(gallery).people() == {"obama": 1}

    with pytest.raises(UsageError, match="enroll_into"):
        face.Clustering(model=model, names={0: "obama"})
    (tmp_path / "sheet.png").write_bytes(b"")
    with pytest.raises(BadInputError, match="output exists"):
        face.Clustering(model=model, sheet=tmp_path / "sheet.png")
    photos = [faces_dir / n for n in ("obama_6.jpg", "biden_2.jpg", "obama_5.jpg")]
    people = face.cluster_photos(photos, model=model, sheet=tmp_path / "sheet.png", overwrite=True,
                                 enroll_into=gallery, names={0: "obama"})
    assert [f.cluster for f in people["faces"]] == [0, 1, 0] and people["enrolled"] == (2, 1)
    assert face.Gallery.load(gallery).people() == {"obama": 3}
    assert (tmp_path / "sheet.png").stat().st_size > 0
    with pytest.raises(NoFaceError, match="no face found in 1 input"):
        face.cluster_photos([faces_dir.parent / "content" / "coffee.png"], model=model)


def test_evaluate_draws_the_roc_it_was_asked_for(faces_dir, model, tmp_path):
    from visiontk.face.evaluate import describe_evaluation, evaluate_pairs

    pairs = tmp_path / "pairs.csv"
    pairs.write_text(f"{faces_dir / 'obama_5.jpg'},{faces_dir / 'obama_6.jpg'},yes\n"
                     f"{faces_dir / 'obama_5.jpg'},{faces_dir / 'biden_2.jpg'},no\n")
    (tmp_path / "roc.png").write_bytes(b"")
    with pytest.raises(BadInputError, match="output exists"):   # refused before any pair is embedded
        evaluate_pairs(pairs, model=model, roc=tmp_path / "roc.png")
    result = evaluate_pairs(pairs, model=model, roc=tmp_path / "roc.png", overwrite=True)
    assert result["accuracy"] == 1.0 and result["roc"] == str(tmp_path / "roc.png")
    assert (tmp_path / "roc.png").stat().st_size > 1000 and "ROC AUC: 1.0000" in describe_evaluation(result)


def test_cli_cluster_goes_past_a_photo_without_faces(run_cli, faces_dir, shared):
    coffee = shared / "data" / "content" / "coffee.png"
    result = run_cli("face", "cluster", coffee, faces_dir / "obama_1.jpg", "--json")
    assert result.exit_code == 0, result.stderr
    assert [json.loads(line)["input"] for line in result.stdout.splitlines()] == [str(faces_dir / "obama_1.jpg")]
