"""visiontk.style: the Gatys objective's pieces, and style transfer with the real ImageNet VGG16 weights
on small real images (64-96 px, so that the suite stays quick)."""
from __future__ import annotations

import numpy as np
import pytest

from visiontk.style import color

SIZE = 64


@pytest.fixture(scope="module")
def images(shared):
    return {"photo": shared / "data/content/chelsea.png",
            "starry": shared / "data/style/starry_night.jpg",
            "scream": shared / "data/style/the_scream.jpg"}


@pytest.fixture(scope="module")
def stylizer(shared, images):
    import os

    os.environ["VISIONTK_MODELS"] = str(shared / "weights")
    from visiontk.style import Stylizer

    return Stylizer(images["starry"], backbone="vgg16")


def test_gram_matrix_is_averaged_over_positions():
    from visiontk import runtime
    from visiontk.style.losses import gram_matrix

    tf = runtime.tensorflow()
    features = np.random.default_rng(0).normal(size=(1, 6, 5, 4)).astype(np.float32)
    flat = features.reshape(-1, 4)
    np.testing.assert_allclose(gram_matrix(tf.constant(features)).numpy(), flat.T @ flat / 30, rtol=1e-5)
    # Tiling an image repeats every position equally often: the averaged Gram must not change.
    tiled = np.tile(features, (1, 2, 3, 1))
    np.testing.assert_allclose(gram_matrix(tf.constant(tiled)).numpy(), flat.T @ flat / 30, rtol=1e-5)


def test_ycbcr_round_trip_and_chrominance_swap():
    rgb = np.random.default_rng(1).integers(0, 256, size=(8, 9, 3)).astype(np.float64)
    np.testing.assert_allclose(color.ycbcr_to_rgb(color.rgb_to_ycbcr(rgb)), rgb, atol=1e-6)
    muted = 100 + (rgb - 128) / 8  # colours that stay inside the RGB cube at Y = 100
    swapped = color.rgb_to_ycbcr(color.with_chrominance(np.full((8, 9, 1), 100.0), muted))
    np.testing.assert_allclose(swapped[..., 0], 100.0, atol=1e-6)
    np.testing.assert_allclose(swapped[..., 1:], color.rgb_to_ycbcr(muted)[..., 1:], atol=1e-6)


@pytest.mark.slow
def test_style_loss_falls_tenfold_from_the_photo(stylizer, images):
    from visiontk.imageio import read_image, resize_long_side

    result = stylizer(images["photo"], size=SIZE, scales=1, iterations=40)
    start = stylizer.measure(images["photo"], resize_long_side(read_image(images["photo"]), SIZE))
    end = stylizer.measure(images["photo"], result.image)
    # The start is the photo itself (up to resampling), so it has almost no content loss...
    assert start["content_loss"] < end["content_loss"] / 100, (start, end)
    # ...and the optimisation trades a little of it for at least a tenfold drop of the style loss.
    assert end["style_loss"] <= start["style_loss"] / 10, (start, end)
    assert result.scales[-1].iterations == 40
    assert result.image.shape == (43, 64, 3) and result.image.dtype == np.uint8


@pytest.mark.slow
def test_coarse_to_fine_sizes_and_requested_size(stylizer, images):
    result = stylizer(images["photo"], size=96, scales=3, iterations=(5, 3, 2))
    # 24 px (a 16 px short side) is under the smallest working size, so that scale and its
    # iteration count are left out.
    assert [(s.width, s.height) for s in result.scales] == [(48, 32), (96, 64)]
    assert [s.iterations for s in result.scales] == [3, 2]
    assert result.image.shape == (64, 96, 3)


@pytest.mark.slow
def test_a_batch_computes_the_style_targets_once(stylizer, images, shared, monkeypatch):
    prepared = []
    original = stylizer._style_at
    monkeypatch.setattr(stylizer, "_style_at", lambda *args: prepared.append(args[1]) or original(*args))
    for photo in (images["photo"], shared / "data/content/coffee.png"):
        stylizer(photo, size=100, scales=2, iterations=1)
    assert prepared == [50, 100]  # one style image per working size, for both photos


@pytest.mark.slow
def test_same_seed_same_result(stylizer, images):
    first = stylizer(images["photo"], size=SIZE, scales=1, iterations=5, init="noise", seed=7).image
    again = stylizer(images["photo"], size=SIZE, scales=1, iterations=5, init="noise", seed=7).image
    other = stylizer(images["photo"], size=SIZE, scales=1, iterations=5, init="noise", seed=8).image
    np.testing.assert_array_equal(first, again)
    assert np.abs(first.astype(int) - other).mean() > 1.0


@pytest.mark.slow
def test_blend_one_zero_equals_the_first_style_alone(stylizer, images):
    from visiontk.style import Stylizer

    mixed = Stylizer([images["starry"], images["scream"]], backbone="vgg16", style_blend=(1, 0))
    for alone, blended in zip(stylizer.style_targets(SIZE), mixed.style_targets(SIZE)):
        np.testing.assert_array_equal(alone.numpy(), blended.numpy())
    one = stylizer(images["photo"], size=SIZE, scales=1, iterations=8).image
    two = mixed(images["photo"], size=SIZE, scales=1, iterations=8).image
    np.testing.assert_array_equal(one, two)
    # ...and the blend does change the targets when the second style counts.
    even = Stylizer([images["starry"], images["scream"]], backbone="vgg16", style_blend=(1, 1))
    assert not np.allclose(stylizer.style_targets(SIZE)[0].numpy(), even.style_targets(SIZE)[0].numpy())


@pytest.mark.slow
def test_preserve_color_keeps_the_photos_chrominance(stylizer, images):
    from visiontk.imageio import read_image, resize_long_side
    from visiontk.style import Stylizer

    photo = resize_long_side(read_image(images["photo"]), SIZE).astype(np.float64)
    keeper = Stylizer(images["starry"], backbone="vgg16", preserve_color=True)
    kept = keeper(images["photo"], size=SIZE, scales=1, iterations=30).image
    free = stylizer(images["photo"], size=SIZE, scales=1, iterations=30).image

    def chroma_change(result):
        return np.abs(color.rgb_to_ycbcr(result)[..., 1:] - color.rgb_to_ycbcr(photo)[..., 1:]).mean()

    def luma_change(result):
        return np.abs(color.luminance(result) - color.luminance(photo)).mean()

    assert chroma_change(kept) < 2.0                   # Cb/Cr within 2 levels of 255 on average
    assert chroma_change(free) > 4 * chroma_change(kept)
    assert luma_change(kept) > 5.0                     # ...while the style did change the picture
