"""The perceptual measure of `sr eval --metrics`: a VGG16 feature distance in the spirit of LPIPS."""
from __future__ import annotations

import json

import pytest


@pytest.fixture(scope="module")
def distance(shared):
    from visiontk.sr.metrics import PerceptualDistance

    with pytest.MonkeyPatch.context() as patch:   # the real ImageNet VGG16 weights
        patch.setenv("VISIONTK_MODELS", str(shared / "weights"))
        return PerceptualDistance()


@pytest.fixture(scope="module")
def butterfly(shared):
    from visiontk.imageio import read_image

    return read_image(shared / "data" / "sr" / "Set5" / "butterfly.png")[96:352, 96:352]


def test_identical_images_are_at_distance_zero(distance, butterfly):
    assert distance(butterfly, butterfly) == 0.0
    assert distance(butterfly, butterfly, border=4) == 0.0


def test_blurred_is_further_than_sharp_and_more_blur_further_still(distance, butterfly):
    import cv2

    slight = cv2.GaussianBlur(butterfly, (0, 0), 1.0)
    heavy = cv2.GaussianBlur(butterfly, (0, 0), 2.5)
    d_slight, d_heavy = distance(slight, butterfly), distance(heavy, butterfly)
    assert 0 < d_slight < d_heavy <= 4
    assert distance(butterfly, heavy) == pytest.approx(d_heavy, rel=1e-5)   # symmetric


def test_eval_cli_adds_the_perceptual_column(shared, shared_weights, run_cli, tmp_path):
    result = run_cli("sr", "eval", shared / "data" / "sr" / "Set5" / "bird.png", "--scale", "4", "--bicubic-only",
                     "--metrics", "psnr,perceptual", "--json")
    assert result.exit_code == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert rows[-1]["image"] == "mean" and 0.1 < rows[-1]["bicubic_perceptual"] < 1
    assert run_cli("sr", "eval", shared / "data" / "sr" / "Set5", "--metrics", "lpips").exit_code == 2
