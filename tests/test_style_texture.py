"""Texture synthesis (`stylize texture`, style.synthesize) and the strength control of trained styles."""
from __future__ import annotations

import json

import numpy as np
import pytest

from visiontk.imageio import read_image, resize_long_side


@pytest.fixture(scope="module")
def texture_source(tmp_path_factory, shared):
    """A 160-px crop of The Starry Night's sky: a texture of swirls and strokes."""
    from visiontk.imageio import write_image

    painting = read_image(shared / "data/style/starry_night.jpg")
    path = tmp_path_factory.mktemp("texture") / "sky.png"
    write_image(path, painting[:320, :320][::2, ::2])
    return path


@pytest.mark.slow
def test_texture_matches_source_statistics_far_better_than_noise(shared_weights, texture_source):
    from visiontk.style import gram_distance, synthesize

    result = synthesize(texture_source, 64, scales=1, iterations=30, seed=0, backbone="vgg16", precision="float32")
    assert result.image.shape == (64, 64, 3) and result.image.dtype == np.uint8
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    made = gram_distance(result.image, texture_source, backbone="vgg16")
    assert made < 0.1 * gram_distance(noise, texture_source, backbone="vgg16")


@pytest.mark.slow
def test_texture_cli_tileable_writes_the_texture(shared_weights, texture_source, tmp_path, run_cli):
    out = tmp_path / "tile.png"
    result = run_cli("-q", "stylize", "texture", texture_source, "-o", out, "--size", "64", "--scales", "1",
                     "--iterations", "10", "--tileable", "--backbone", "vgg16", "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["tileable"] and (record["width"], record["height"]) == (64, 64)
    assert read_image(out).shape == (64, 64, 3)


def test_texture_cli_refuses_bad_input(tmp_path, run_cli):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    result = run_cli("stylize", "texture", bad, "-o", tmp_path / "out.png")
    assert result.exit_code == 3 and not (tmp_path / "out.png").exists()
    result = run_cli("stylize", "texture", bad, "-o", tmp_path / "out.png", "--size", "8")
    assert result.exit_code == 2


def test_tileable_needs_no_content_term():
    from visiontk.errors import VisiontkError
    from visiontk.style import Stylizer

    with pytest.raises(VisiontkError, match="content weight"):
        Stylizer(np.zeros((64, 64, 3), np.uint8), tileable=True)


@pytest.mark.slow
def test_strength_moves_style_and_content_monotonically(shared_weights, shared):
    from visiontk.style import FastStylizer, Stylizer

    photo = resize_long_side(read_image(shared / "data/content/chelsea.png"), 160)
    painter = FastStylizer("starry-night", precision="float32")
    judge = Stylizer(shared / "data/style/starry_night.jpg", backbone="vgg16", precision="float32")
    painted = {s: painter(photo, size=None, strength=s) for s in (0.0, 0.5, 1.0)}
    assert np.array_equal(painted[0.0], photo)
    terms = [judge.measure(photo, painted[s]) for s in (0.0, 0.5, 1.0)]
    styles = [t["style_loss"] for t in terms]
    contents = [t["content_loss"] for t in terms]
    assert styles[0] > styles[1] > styles[2]
    assert contents[0] < contents[1] < contents[2]


def test_strength_is_checked(run_cli, tmp_path, shared):
    photo = shared / "data/content/chelsea.png"
    result = run_cli("stylize", photo, "-s", shared / "data/style/starry_night.jpg", "--strength", "0.5",
                     "--output-dir", tmp_path)
    assert result.exit_code == 2 and "--strength" in result.stderr
    result = run_cli("stylize", photo, "--model", "starry-night", "--strength", "1.5", "--output-dir", tmp_path)
    assert result.exit_code == 2
    assert not list(tmp_path.iterdir())
