"""visiontk sr: the real-world degradation pipeline and training on it (--degradation real)."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image


@pytest.fixture(scope="module")
def set5(shared):
    return shared / "data" / "sr" / "Set5"


@pytest.fixture(scope="module")
def photo(set5):
    from visiontk.imageio import read_image
    from visiontk.sr.degrade import crop_to_multiple

    return crop_to_multiple(read_image(set5 / "butterfly.png"), 4)


def test_degrade_is_seeded_per_sample(photo):
    from visiontk.sr.degrade import Degradation, degrade, sample_rng

    params = Degradation()
    first = degrade(photo, 4, sample_rng(0, 0, 7), params)
    assert first.shape == (photo.shape[0] // 4, photo.shape[1] // 4, 3) and first.dtype == np.uint8
    assert np.array_equal(first, degrade(photo, 4, sample_rng(0, 0, 7), params))
    others = [degrade(photo, 4, sample_rng(0, 0, k), params) for k in range(8)]
    assert len({o.tobytes() for o in others}) == 8  # every sample draws its own degradation


def test_degradations_do_what_they_say(photo):
    from visiontk.sr.degrade import Degradation, degrade, downscale, gaussian_kernel, sample_rng

    clean = downscale(photo, 4).astype(np.float64)
    nothing = Degradation(blur_prob=0, resize_methods=("bicubic",), noise_prob=0, jpeg_prob=0, second_order=0)
    assert np.array_equal(degrade(photo, 4, sample_rng(1, 0, 0), nothing), clean.astype(np.uint8))

    noisy = Degradation(blur_prob=0, resize_methods=("bicubic",), noise_prob=1, poisson_prob=0,
                        gray_noise_prob=0, gaussian_sigma=(8, 8), jpeg_prob=0, second_order=0)
    residual = degrade(photo, 4, sample_rng(1, 0, 0), noisy) - clean
    assert np.std(residual) == pytest.approx(8, rel=0.1)  # clipping at 0/255 takes a little

    blurred = Degradation(blur_prob=1, blur_sigma=(3, 3), resize_methods=("area",), noise_prob=0, jpeg_prob=0,
                          second_order=0)
    sharpness = [np.abs(np.diff(x.astype(np.float64), axis=1)).mean()
                 for x in (clean, degrade(photo, 4, sample_rng(1, 0, 0), blurred))]
    assert sharpness[1] < 0.8 * sharpness[0]

    kernel = gaussian_kernel(3.0, 0.5, 0.0)  # anisotropic: wide along x, narrow along y
    assert kernel.sum() == pytest.approx(1) and kernel[kernel.shape[0] // 2].sum() > 0.5


def test_jpeg_is_pil_jpeg(photo):
    from visiontk.sr.degrade import jpeg

    small = photo[:64, :64]
    buffer = io.BytesIO()
    Image.fromarray(small).save(buffer, format="JPEG", quality=40)
    assert np.array_equal(jpeg(small, 40), np.asarray(Image.open(buffer)))


def test_degradation_parameters_round_trip_and_refuse_unknowns():
    from dataclasses import asdict

    from visiontk.sr.degrade import Degradation

    custom = Degradation(jpeg_quality=(50, 60), second_order=0.0)
    assert Degradation.from_dict(asdict(custom)) == custom
    with pytest.raises(ValueError, match="jpeg_qualty"):
        Degradation.from_dict({"jpeg_qualty": (1, 2)})


def test_real_training_resumes_exactly_and_validates_on_degraded_images(set5, tmp_path):
    import json

    from visiontk.backbones.edsr import EDSR
    from visiontk.sr import data
    from visiontk.sr.export import export
    from visiontk.sr.training import TrainConfig, degradation_of, train

    def config(steps):
        return TrainConfig(scale=2, steps=steps, batch_size=2, patch=16, val_images=1, val_every=2,
                           checkpoint_every=2, blocks=2, features=8, degradation="real")

    straight = train([set5], tmp_path / "a", config(4))
    train([set5], tmp_path / "b", config(2))
    resumed = train([set5], tmp_path / "b", config(4), given=["steps"])
    assert straight["step"] == resumed["step"] == 4
    assert straight["best_val_psnr"] == resumed["best_val_psnr"]
    weights = []
    for run in ("a", "b"):
        export(tmp_path / run, tmp_path / f"{run}.weights.h5", which="latest")
        model = EDSR(2, 2, 8)
        model.load_weights(tmp_path / f"{run}.weights.h5")
        weights.append(model.get_weights())
    for x, y in zip(*weights):
        np.testing.assert_array_equal(x, y)
    assert json.loads((tmp_path / "a" / "config.json").read_text())["degradation"] == "real"

    # The LR patches really are degraded (not the bicubic ones), and patches stay aligned with HR.
    pairs = data.load_pairs(data.find_images([set5]), 2, min_lr_size=24)
    real = data.patch_dataset(pairs, 2, 16, 4, 0, 0, 1, degradation_of(config(4)))
    bicubic = data.patch_dataset(pairs, 2, 16, 4, 0, 0, 1)
    (lr, hr), = list(real.as_numpy_iterator())
    assert lr.shape == (4, 16, 16, 3) and hr.shape == (4, 32, 32, 3)
    lr_b, _ = next(iter(bicubic.as_numpy_iterator()))
    assert not np.array_equal(lr, lr_b)
    shrunk = np.stack([np.asarray(Image.fromarray(h.astype(np.uint8)).resize((16, 16), Image.BICUBIC))
                       for h in hr]).astype(np.float64)
    assert np.abs(shrunk - lr).mean() < 20  # same content, only degraded


def test_train_cli_refuses_zero_batch_and_patch(set5, tmp_path, run_cli):
    for option in ("--batch-size", "--batch", "--patch"):
        result = run_cli("sr", "train", str(set5), "--out", str(tmp_path / "run"), option, "0")
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output


def test_train_cli_takes_degradation_parameters_as_json_and_stores_a_command_that_pastes_back(set5, tmp_path,
                                                                                             run_cli, monkeypatch):
    import json
    import shlex
    import sys

    base = ["sr", "train", str(set5), "--scale", "2", "--steps", "2", "--batch-size", "2", "--patch", "16",
            "--blocks", "2", "--features", "8", "--val-images", "1", "--val-every", "2"]
    bad_json = run_cli(*base, "--out", tmp_path / "a", "--degradation", "real", "--degradation-params", "{blur")
    assert bad_json.exit_code == 2 and "is not JSON" in bad_json.output and not (tmp_path / "a").exists()
    not_object = run_cli(*base, "--out", tmp_path / "b", "--degradation", "real", "--degradation-params", "[1]")
    assert not_object.exit_code == 2 and "not a JSON object" in not_object.output
    unknown = run_cli(*base, "--out", tmp_path / "c", "--degradation", "real", "--degradation-params", '{"blurr": 1}')
    assert unknown.exit_code == 3 and "unknown degradation parameters: blurr" in unknown.output
    bicubic = run_cli(*base, "--out", tmp_path / "d", "--degradation-params", '{"blur_prob": 0}')
    assert bicubic.exit_code == 3 and "use them with --degradation real" in bicubic.output

    params = '{"blur_prob": 0, "resize_methods": ["bicubic"]}'
    args = [*base, "--out", str(tmp_path / "run"), "--degradation", "real", "--degradation-params", params]
    monkeypatch.setattr(sys, "argv", ["visiontk", *args])  # as the shell hands them over
    ran = run_cli(*args)
    assert ran.exit_code == 0, ran.output
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["degradation_params"] == json.loads(params)
    typed = shlex.split(config["command"])  # what the card shows pastes back as one argument
    assert typed[typed.index("--degradation-params") + 1] == params


def test_eval_and_compare_refuse_tiny_images_and_outside_crops(set5, tmp_path, run_cli):
    tiny = tmp_path / "tiny.png"
    Image.fromarray(np.zeros((3, 3, 3), np.uint8)).save(tiny)
    for args in (("sr", "eval", tiny, "--bicubic-only"), ("sr", "compare", tiny, "-o", tmp_path / "c.png")):
        result = run_cli(*args)
        assert result.exit_code == 3, result.output
        assert "too small" in result.output and "Traceback" not in result.output
    # butterfly is 256x256: a crop reaching past its right edge is refused, nothing is written.
    result = run_cli("sr", "compare", set5 / "butterfly.png", "-o", tmp_path / "c.png", "--region", "200", "0", "100")
    assert result.exit_code == 2 and "not inside" in result.output
    assert not (tmp_path / "c.png").exists()


def test_eval_degrade_scores_fixed_real_inputs(set5, run_cli):
    import json

    scores = {}
    for degrade in (None, "jpeg40", "noise5-jpeg75"):
        args = ["sr", "eval", set5, "--bicubic-only", "--json"] + (["--degrade", degrade] if degrade else [])
        result = run_cli(*args)
        assert result.exit_code == 0, result.output
        scores[degrade] = json.loads(result.output.splitlines()[-1])["bicubic_psnr"]
    again = json.loads(run_cli("sr", "eval", set5, "--bicubic-only", "--json", "--degrade", "noise5-jpeg75")
                       .output.splitlines()[-1])["bicubic_psnr"]
    assert again == scores["noise5-jpeg75"]  # the noise is fixed, not drawn anew
    assert scores["jpeg40"] < scores[None] - 1 and scores["noise5-jpeg75"] < scores[None] - 0.5


def test_export_of_a_real_run_cards_its_degradation_and_real_scores(set5, tmp_path):
    from visiontk.sr.export import export
    from visiontk.sr.training import TrainConfig, train

    config = TrainConfig(scale=2, steps=2, batch_size=2, patch=16, val_images=1, val_every=2,
                         checkpoint_every=2, blocks=2, features=8, degradation="real",
                         degradation_params={"jpeg_quality": [40, 60]})
    train([set5], tmp_path / "run", config)
    result = export(tmp_path / "run", tmp_path / "tiny-real.weights.h5", eval_dir=set5)
    card = (tmp_path / "tiny-real.md").read_text()
    assert "for real-world photos" in card and "jpeg_quality (40, 60)" in card
    assert "--degrade jpeg40" in card and "--degrade noise5-jpeg75" in card
    assert result["sha256"] in card


def test_compare_several_models_on_a_degraded_input(set5, tmp_path, run_cli):
    import json

    import keras

    from visiontk.backbones.edsr import EDSR

    paths = []
    for seed in (1, 2):
        keras.utils.set_random_seed(seed)
        paths.append(tmp_path / f"tiny{seed}.weights.h5")
        EDSR(2, blocks=2, features=8).save_weights(paths[-1])
    args = ["sr", "compare", set5 / "bird.png", "--scale", "2", "--model", paths[0], "--model", paths[1],
            "--crop", "0", "0", "64", "--zoom", "1", "--json"]
    clean = json.loads(run_cli(*args, "-o", tmp_path / "clean.png").output)
    jpeg = json.loads(run_cli(*args, "--degrade", "jpeg40", "-o", tmp_path / "jpeg.png").output)
    assert [m["model"] for m in jpeg["models"]] == ["tiny1", "tiny2"] and jpeg["degradation"] == "jpeg40"
    assert jpeg["bicubic_psnr"] < clean["bicubic_psnr"] - 1
    with Image.open(tmp_path / "jpeg.png") as sheet:  # bicubic | tiny1 | tiny2 | original, 64 px each
        assert sheet.size[0] == 4 * 64 + 3 * 6
    ensembled = json.loads(run_cli(*args, "--self-ensemble", "-o", tmp_path / "ensembled.png").output)
    assert ensembled["self_ensemble"] and not clean["self_ensemble"]
    assert ensembled["bicubic_psnr"] == clean["bicubic_psnr"]      # only the models' outputs change
    assert [m["psnr"] for m in ensembled["models"]] != [m["psnr"] for m in clean["models"]]
