"""`visiontk stylize` end to end with the real VGG16 weights, and its handling of bad input."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from visiontk.imageio import read_image

pytestmark = pytest.mark.slow

FAST = ("--backbone", "vgg16", "--size", "64", "--scales", "1", "--iterations", "3")


@pytest.fixture
def photo(shared):
    return shared / "data/content/chelsea.png"


@pytest.fixture
def starry(shared):
    return shared / "data/style/starry_night.jpg"


def one_line_error(result, code: int, *words: str) -> None:
    assert result.exit_code == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("visiontk: error:"), result.stderr
    for word in words:
        assert word in lines[0]


def test_stylize_writes_the_requested_size_and_reports_json(run_cli, shared_weights, photo, starry, tmp_path):
    out = tmp_path / "cat.png"
    result = run_cli("stylize", photo, starry, "-o", out, "--backbone", "vgg16", "--size", "96",
                     "--iterations", "4,2", "--save-every", "2", "--json")
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout.strip().splitlines()[-1])
    assert record["ok"] and record["output"] == str(out)
    assert read_image(out).shape == (64, 96, 3)
    assert [(s["width"], s["height"], s["iterations"]) for s in record["scales"]] == [(48, 32, 4), (96, 64, 2)]
    assert record["iterations"] == 6 and record["style_loss"] > 0 and record["seconds"] > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "cat.png", "cat_scale1_iter0002.png", "cat_scale1_iter0004.png", "cat_scale2_iter0002.png"]
    # The result exists now: without --overwrite it is left alone.
    before = out.read_bytes()
    again = run_cli("stylize", photo, starry, "-o", out, *FAST)
    one_line_error(again, 3, "exists", "--overwrite")
    assert out.read_bytes() == before


def test_batch_folder_with_output_dir_and_small_style(run_cli, shared_weights, photo, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.open(photo).resize((90, 60)).save(photos / "a.png")
    Image.open(photo).convert("L").resize((60, 90)).save(photos / "b.jpg")
    # A 40x30 style is far smaller than VGG's receptive field (132 px at block5_conv1): it is enlarged.
    small_style = tmp_path / "tiny_style.png"
    Image.open(shared_weights.parent / "data/style/starry_night.jpg").resize((40, 30)).save(small_style)
    result = run_cli("stylize", photos, "-s", small_style, "--output-dir", tmp_path / "out", *FAST,
                     "--optimizer", "adam", "--json")
    assert result.exit_code == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert [r["ok"] for r in records] == [True, True]
    assert read_image(tmp_path / "out/a_stylized.png").shape == (43, 64, 3)
    assert read_image(tmp_path / "out/b_stylized.jpg").shape == (64, 43, 3)


def test_missing_style(run_cli, shared_weights, photo, tmp_path):
    out = tmp_path / "out.png"
    one_line_error(run_cli("stylize", photo, tmp_path / "nope.jpg", "-o", out, *FAST), 3, "nope.jpg")
    assert not out.exists()


def test_corrupt_style(run_cli, shared_weights, photo, tmp_path):
    corrupt = tmp_path / "broken.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    out = tmp_path / "out.png"
    one_line_error(run_cli("stylize", photo, corrupt, "-o", out, *FAST), 3, "broken.jpg")
    assert not out.exists()


def test_one_pixel_content(run_cli, shared_weights, starry, tmp_path):
    dot = tmp_path / "dot.png"
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(dot)
    out = tmp_path / "out.png"
    one_line_error(run_cli("stylize", dot, starry, "-o", out, *FAST), 3, "dot.png", "1x1")
    assert not out.exists()


def test_one_pixel_style(run_cli, shared_weights, photo, tmp_path):
    dot = tmp_path / "dot.png"
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(dot)
    out = tmp_path / "out.png"
    one_line_error(run_cli("stylize", photo, dot, "-o", out, *FAST), 3, "dot.png", "1x1")
    assert not out.exists()


def test_vgg19_without_its_weights_exits_4(run_cli, shared_weights, photo, starry, tmp_path):
    out = tmp_path / "out.png"
    result = run_cli("stylize", photo, starry, "-o", out, "--size", "64")
    one_line_error(result, 4, "vgg19-imagenet", "--backbone vgg16")
    assert not out.exists()


def test_usage_errors(run_cli, photo, starry, tmp_path):
    assert run_cli("stylize", photo, "-o", tmp_path / "x.png").exit_code == 2
    assert run_cli("stylize", photo, starry).exit_code == 2
    assert run_cli("stylize", photo, photo, "-s", starry, "-o", tmp_path / "x.png").exit_code == 2
    blend = run_cli("stylize", photo, starry, "-o", tmp_path / "x.png", "--style-blend", "1,x")
    assert blend.exit_code == 2
