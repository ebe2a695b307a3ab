"""The style task's library verbs around files and quality: stylize_file/paint_file (one input file to one
output file, photo or clip) and evaluate (a network judged against Gatys from noise)."""
from __future__ import annotations

import numpy as np
import pytest

from visiontk.imageio import read_image, write_image


@pytest.fixture(scope="module")
def small_photo(tmp_path_factory, shared):
    """A held-out content photo at 96 px: small enough for Gatys' 100 iterations in a test."""
    from visiontk.imageio import resize_long_side

    path = tmp_path_factory.mktemp("judge") / "tubingen.png"
    write_image(path, resize_long_side(read_image(shared / "data/content/tubingen.jpg"), 96))
    return path


@pytest.mark.slow
@pytest.mark.full   # ~50 s: Gatys' 100 iterations and three VGG16 objectives; the benchmark runs it too
def test_evaluate_scores_the_shipped_network_against_gatys(shared_weights, shared, small_photo, tmp_path):
    from visiontk.style import evaluate

    report = evaluate("starry-night", shared / "data/style/starry_night.jpg", [small_photo], sizes=[48],
                      cache=tmp_path / "cache", pictures=tmp_path / "pictures")
    means = report["means"]
    assert set(means) == {"48/gatys-20", "48/gatys-50", "48/gatys-100", "48/network"}
    # More iterations leave less of the photo's own style; the network paints (below the photo's own).
    assert means["48/gatys-100"]["style"] < means["48/gatys-20"]["style"] < 1.0
    assert means["48/network"]["style"] < 1.0
    verdict = report["verdicts"][48]
    assert verdict["style_ratio"] == pytest.approx(means["48/network"]["style"] / means["48/gatys-50"]["style"])
    assert (tmp_path / "pictures/48/tubingen_network.jpg").is_file()
    assert len(list((tmp_path / "cache").rglob("gatys*.png"))) == 3   # a second judge reuses them


def test_verdicts_compare_the_network_with_gatys_50_at_each_size():
    from visiontk.style.evaluate import summarise

    rows = [{"size": size, "photo": photo, "method": method, "style": style, "content": content}
            for size, scale in ((256, 1.0), (512, 2.0))
            for photo in ("a.jpg", "b.jpg")
            for method, style, content in (("gatys-50", 0.02 * scale, 10.0), ("network", 0.05 * scale, 12.0 * scale))]
    report = summarise(rows)
    assert report["verdicts"][256] == {"style_ratio": pytest.approx(2.5), "content_ratio": pytest.approx(1.2),
                                       "met": True}
    assert report["verdicts"][512]["content_ratio"] == pytest.approx(2.4) and not report["verdicts"][512]["met"]
    assert report["met"] is False


def test_paint_file_writes_a_photo_at_the_asked_size(shared_weights, small_photo, tmp_path):
    from visiontk.style import FastStylizer, paint_file

    record = paint_file(FastStylizer("starry-night"), small_photo, tmp_path / "out.jpg", size=80, strength=0.5)
    painted = read_image(tmp_path / "out.jpg")
    assert max(painted.shape[:2]) == 80 and record["width"] == painted.shape[1]
    assert record["model"] == "starry-night" and record["strength"] == 0.5


@pytest.mark.slow
def test_stylize_file_optimises_a_photo_into_its_output(shared_weights, shared, small_photo, tmp_path):
    from visiontk.style import Stylizer, stylize_file

    stylizer = Stylizer(shared / "data/style/starry_night.jpg", backbone="vgg16")
    record = stylize_file(stylizer, small_photo, tmp_path / "out.png", size=48, scales=1, iterations=3,
                          save_every=3)
    assert read_image(tmp_path / "out.png").shape[:2] == (record["height"], record["width"])
    assert max(record["width"], record["height"]) == 48 and np.isfinite(record["loss"])
    assert (tmp_path / "out_scale1_iter0003.png").is_file()
