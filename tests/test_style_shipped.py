"""The shipped feed-forward style networks: they load offline from the package (no VGG weights needed)
and paint a photo they were not trained on towards the painting's Gram statistics."""
from __future__ import annotations

import json

import numpy as np
import pytest

from visiontk.imageio import read_image, resize_long_side

pytestmark = pytest.mark.slow

SHIPPED = {"starry-night": "starry_night.jpg", "the-scream": "the_scream.jpg"}


def style_distance(image: np.ndarray, painting: np.ndarray) -> float:
    """Mean over VGG16's five style layers of ||G(image) - G(painting)||² / ||G(painting)||²."""
    from visiontk.backbones.vgg import vgg_extractor
    from visiontk.style import losses

    layers = ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1")
    vgg = vgg_extractor("vgg16", layers)
    got = vgg(image[None].astype(np.float32))
    want = vgg(resize_long_side(painting, max(image.shape[:2]))[None].astype(np.float32))
    ratios = []
    for layer in layers:
        g, w = losses.gram_matrix(got[layer]).numpy(), losses.gram_matrix(want[layer]).numpy()
        ratios.append(np.sum((g - w) ** 2) / np.sum(w ** 2))
    return float(np.mean(ratios))


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_style_paints_offline_any_size_and_towards_its_painting(name, run_cli, shared, tmp_path,
                                                                         monkeypatch):
    monkeypatch.setenv("VISIONTK_MODELS", str(tmp_path / "nothing-here"))   # only what the package ships
    photo = shared / "data/content/tubingen.jpg"                             # not in the training data
    out = tmp_path / "painted.jpg"
    result = run_cli("stylize", photo, "--model", name, "-o", out, "--size", "510", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["ok"]
    painted = read_image(out)
    assert max(painted.shape[:2]) == 510  # 512 less 2, not a multiple of 4: cropped back
    original = resize_long_side(read_image(photo), 510)
    assert np.abs(painted.astype(int) - original.astype(int)).mean() > 20  # it really repainted the photo
    monkeypatch.setenv("VISIONTK_MODELS", str(shared / "weights"))          # VGG16, only to judge
    painting = read_image(shared / "data/style" / SHIPPED[name])
    assert style_distance(painted, painting) < 0.5 * style_distance(original, painting)
