"""visiontk sr: EDSR builder, evaluation protocol, tiling, image modes, training/resume, weights."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from visiontk.errors import WeightsError


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    """Random-weight EDSRs (2 blocks x 8 features) for each scale: mechanics only, never quality."""
    import keras

    from visiontk.backbones.edsr import EDSR

    folder = tmp_path_factory.mktemp("tiny-edsr")
    keras.utils.set_random_seed(3)
    paths = {}
    for scale in (2, 3, 4):
        paths[scale] = folder / f"tiny_x{scale}.weights.h5"
        EDSR(scale, blocks=2, features=8).save_weights(paths[scale])
    return paths


@pytest.fixture(scope="module")
def set5(shared):
    return shared / "data" / "sr" / "Set5"


def test_edsr_baseline_matches_krasserm_layer_shapes():
    from visiontk.backbones.edsr import EDSR, weighted_layers

    model = EDSR(4)  # krasserm's edsr(scale=4, num_res_blocks=16): 1,517,571 parameters
    assert model.count_params() == 1_517_571
    shapes = [tuple(layer.weights[0].shape) for layer in weighted_layers(model)]
    assert shapes[0] == (3, 3, 3, 64) and shapes[-3:] == [(3, 3, 64, 256)] * 2 + [(3, 3, 64, 3)]
    assert len(shapes) == 2 + 2 * 16 + 2 + 1


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_output_shape_per_scale(tiny_weights, scale):
    from visiontk.sr.upscale import Upscaler

    rgb = np.random.default_rng(0).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    out = Upscaler(scale, tiny_weights[scale]).upscale_rgb(rgb)
    assert out.shape == (37 * scale, 53 * scale, 3) and out.dtype == np.uint8


@pytest.mark.parametrize("scale", [2, 4])
def test_tiled_equals_untiled(tiny_weights, set5, scale):
    from visiontk.imageio import read_image
    from visiontk.sr import tiling
    from visiontk.sr.upscale import Upscaler

    rgb = read_image(set5 / "butterfly.png").astype(np.float32)
    upscaler = Upscaler(scale, tiny_weights[scale])
    whole = upscaler.predict(rgb)
    # 9+ tiles with uneven edges; the tiny net sees 8 px around each pixel, the overlap gives it 8.
    tiled = tiling.upscale_tiled(rgb, upscaler.predict_batch, scale, tile=70, overlap=16)
    assert tiling.count_tiles(*rgb.shape[:2], 70) >= 9
    assert np.abs(tiled - whole).max() < 1 / 255


def test_auto_tile_bounds_memory():
    from visiontk.sr import tiling

    for scale in (2, 3, 4):
        for precision in ("float32", "bfloat16"):
            side = tiling.auto_tile(scale, 32, precision=precision) + 64
            assert side * side * tiling.bytes_per_pixel(scale, precision) <= tiling.DEFAULT_MEMORY


def test_rgba_and_grayscale_keep_their_mode(tiny_weights, tmp_path, run_cli):
    rng = np.random.default_rng(1)
    rgba = Image.fromarray(rng.integers(0, 256, (20, 30, 4), dtype=np.uint8), "RGBA")
    gray = Image.fromarray(rng.integers(0, 256, (20, 30), dtype=np.uint8), "L")
    rgba.save(tmp_path / "rgba.png")
    gray.save(tmp_path / "gray.png")
    result = run_cli("sr", "upscale", tmp_path / "rgba.png", tmp_path / "gray.png", "--model", tiny_weights[2],
                     "--output-dir", tmp_path / "out", "--json")
    assert result.exit_code == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["ok"] for r in records] == [True, True]
    with Image.open(tmp_path / "out" / "rgba_x2.png") as im:
        assert im.mode == "RGBA" and im.size == (60, 40)
        alpha = np.asarray(im)[..., 3]
    expected = np.asarray(Image.fromarray(np.asarray(rgba)[..., 3]).resize((60, 40), Image.BICUBIC))
    assert np.array_equal(alpha, expected)  # alpha is bicubic, not the network
    with Image.open(tmp_path / "out" / "gray_x2.png") as im:
        assert im.mode == "L" and im.size == (60, 40)


def test_batch_skip_existing_and_no_clobber(tiny_weights, tmp_path, run_cli, set5):
    out = tmp_path / "bird.png"
    out.write_bytes(b"keep me")
    result = run_cli("sr", "upscale", set5 / "bird.png", "--model", tiny_weights[2], "-o", out)
    assert result.exit_code == 3 and out.read_bytes() == b"keep me"
    result = run_cli("sr", "upscale", set5 / "bird.png", set5, "--model", tiny_weights[2], "-o", out)
    assert result.exit_code == 2
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    result = run_cli("sr", "upscale", bad, set5 / "head.png", "--model", tiny_weights[2], "--output-dir",
                     tmp_path / "o", "--continue-on-error")
    assert result.exit_code == 5 and (tmp_path / "o" / "head_x2.png").is_file()
    assert not (tmp_path / "o" / "bad_x2.png").exists()
    result = run_cli("sr", "upscale", set5 / "head.png", "--model", tiny_weights[2], "--output-dir",
                     tmp_path / "o", "--skip-existing", "--json")
    assert result.exit_code == 0 and result.stdout == ""


def test_wrong_scale_weights_exit_4(tiny_weights, set5, tmp_path, run_cli):
    result = run_cli("sr", "upscale", set5 / "bird.png", "--scale", "4", "--model", tiny_weights[2],
                     "-o", tmp_path / "x.png")
    assert result.exit_code == 4 and "x2 weights, not x4" in result.stderr
    assert not (tmp_path / "x.png").exists()
    from visiontk.sr.edsr_files import load_edsr

    with pytest.raises(WeightsError):
        load_edsr(tiny_weights[3], 2)


@pytest.mark.parametrize("scale, expected", [(2, 33.67), (4, 28.43)])
def test_bicubic_protocol_on_set5(set5, scale, expected):
    from visiontk.sr.evaluate import evaluate

    result = evaluate(set5, scale, bicubic_only=True)
    assert len(result["images"]) == 5
    assert round(result["mean"]["bicubic_psnr"], 2) == expected


def test_eval_cli_bicubic_json(set5, run_cli):
    result = run_cli("sr", "eval", set5, "--scale", "2", "--bicubic-only", "--json")
    assert result.exit_code == 0
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert rows[-1]["image"] == "mean" and round(rows[-1]["bicubic_psnr"], 2) == 33.67


def test_lr_maker_is_pil_bicubic():
    from visiontk.sr.degrade import downscale

    hr = np.random.default_rng(2).integers(0, 256, (25, 31, 3), dtype=np.uint8)
    lr = downscale(hr, 3)
    assert lr.shape == (8, 10, 3)
    assert np.array_equal(lr, np.asarray(Image.fromarray(hr[:24, :30]).resize((10, 8), Image.BICUBIC)))


def tiny_run(steps: int, **settings):
    """A few steps of a 2-block, 8-feature EDSR on Set5 (one image held out), validated every 2 steps."""
    from visiontk.sr.training import TrainConfig

    tiny = dict(scale=2, batch_size=2, patch=16, val_images=1, val_every=2, checkpoint_every=4, blocks=2, features=8)
    return TrainConfig(steps=steps, **{**tiny, **settings})


def exported_weights(run, tmp_path, name):
    from visiontk.backbones.edsr import EDSR
    from visiontk.sr.export import export

    export(run, tmp_path / f"{name}.weights.h5", which="latest")
    model = EDSR(2, 2, 8)
    model.load_weights(tmp_path / f"{name}.weights.h5")
    return model.get_weights()


def metrics_rows(run):
    import csv

    return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(open(run / "metrics.csv"))]


def test_interrupted_run_resumes_to_the_uninterrupted_weights(set5, tmp_path):
    import os
    import signal

    from visiontk.sr.training import train

    straight = train([set5], tmp_path / "a", tiny_run(6))

    def preempt(row):  # SIGTERM, as a preempted job gets it: the run saves after the current step
        if row["step"] == 2:
            os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(KeyboardInterrupt):
        train([set5], tmp_path / "b", tiny_run(6), on_progress=preempt)
    # --checkpoint-every is 4: the checkpoint at step 2 is the one the stop saved.
    assert sorted(p.name for p in (tmp_path / "b" / "checkpoints").glob("*.index")) == ["ckpt-2.index"]
    resumed = train([set5], tmp_path / "b", tiny_run(6))  # the same call again

    assert resumed == {**straight, "seconds": resumed["seconds"]}
    assert resumed["step"] == 6 and resumed["best_val_psnr"] >= resumed["val_psnr"]
    assert metrics_rows(tmp_path / "a") == metrics_rows(tmp_path / "b")    # each step logged once
    for x, y in zip(exported_weights(tmp_path / "a", tmp_path, "a"), exported_weights(tmp_path / "b", tmp_path, "b")):
        assert np.array_equal(x, y)
    assert (tmp_path / "a" / "best.weights.h5").read_bytes() == (tmp_path / "b" / "best.weights.h5").read_bytes()
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["best.weights.h5", "checkpoints", "config.json",
                                                                 "curves.png", "metrics.csv"]
    with Image.open(tmp_path / "a" / "curves.png") as curves:  # loss and validation PSNR, drawn
        assert curves.format == "PNG" and curves.width > curves.height


def test_resume_can_change_the_learning_rate_schedule_only(set5, tmp_path):
    from visiontk.errors import VisiontkError
    from visiontk.sr.training import train

    train([set5], tmp_path, tiny_run(2, halve_every=1000))
    train([set5], tmp_path, tiny_run(4, halve_every=1), given=["steps"])  # the run keeps halving every 1000
    train([set5], tmp_path, tiny_run(6, halve_every=1), given=["steps", "halve_every"])
    rates = {int(r["step"]): float(r["learning_rate"]) for r in metrics_rows(tmp_path)}
    assert rates[4] == pytest.approx(1e-4) and rates[6] == pytest.approx(1e-4 / 2 ** 5, rel=0.01)
    assert json.loads((tmp_path / "config.json").read_text())["halve_every"] == 1
    with pytest.raises(VisiontkError, match="can't change on resume: `batch_size`"):
        train([set5], tmp_path, tiny_run(8, batch_size=4), given=["steps", "batch_size"])


def test_train_refuses_runs_of_the_older_layout_and_of_other_tasks(set5, tmp_path, run_cli):
    old = tmp_path / "old"
    old.mkdir()
    (old / "run.json").write_text("{}")
    (old / "log.csv").write_text("step,loss\n")
    for args in (("sr", "train", set5, "--out", old), ("sr", "export", old, "-o", tmp_path / "x.weights.h5")):
        result = run_cli(*args)
        assert result.exit_code == 3 and "older visiontk" in result.output, result.output
    assert sorted(p.name for p in old.iterdir()) == ["log.csv", "run.json"]
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"style": "starry.jpg", "steps": 10}))
    result = run_cli("sr", "train", set5, "--out", other)
    assert result.exit_code == 3 and "not a `visiontk sr train` run" in result.output
    assert json.loads((other / "config.json").read_text()) == {"style": "starry.jpg", "steps": 10}


def test_warm_start_copies_the_body(tiny_weights, set5, tmp_path):
    from visiontk.backbones.edsr import EDSR, body_layer_count, weighted_layers
    from visiontk.sr.training import TrainConfig, warm_start

    config = TrainConfig(data=[str(set5)], scale=4, blocks=2, features=8)
    model = EDSR(4, 2, 8)
    warm_start(model, tiny_weights[2], config)
    source = EDSR(2, 2, 8)
    source.load_weights(tiny_weights[2])
    count = body_layer_count(2)
    src, dst = weighted_layers(source), weighted_layers(model)
    for a, b in zip(src[:count] + src[-2:], dst[:count] + [dst[-3], dst[-1]]):
        np.testing.assert_array_equal(a.get_weights()[0], b.get_weights()[0])
    # The second x2 step starts as nearest-neighbour feature upsampling: x4 = x2 net + feature copy.
    lr = np.random.default_rng(4).uniform(0, 255, (1, 6, 7, 3)).astype(np.float32)
    import keras

    x2_features = keras.Model(source.input, source.get_layer("upsample1_shuffle").output)(lr).numpy()
    x4_features = keras.Model(model.input, model.get_layer("upsample2_shuffle").output)(lr).numpy()
    np.testing.assert_allclose(x4_features, np.repeat(np.repeat(x2_features, 2, 1), 2, 2), atol=1e-5)


def test_warm_start_into_a_deeper_edsr_starts_out_as_the_shallower_one(tiny_weights, set5):
    """--blocks larger than the --init-from network's: the extra blocks start as identities, so training
    begins from the shallower network's output, and all of the new blocks' weights can still learn."""
    from visiontk.backbones.edsr import EDSR
    from visiontk.sr.training import TrainConfig, warm_start

    model = EDSR(2, 5, 8)
    warm_start(model, tiny_weights[2], TrainConfig(data=[str(set5)], scale=2, blocks=5, features=8))
    source = EDSR(2, 2, 8)
    source.load_weights(tiny_weights[2])
    lr = np.random.default_rng(5).uniform(0, 255, (1, 9, 7, 3)).astype(np.float32)
    np.testing.assert_allclose(model(lr).numpy(), source(lr).numpy(), atol=1e-3)
    assert np.abs(model.get_layer("block5_conv1").get_weights()[0]).max() > 0   # not a dead block
    assert not np.any(model.get_layer("block5_conv2").get_weights()[0])


def _write_krasserm_h5(path, model, drop_last=False):
    """Write `model`'s weights in the legacy Keras HDF5 layout with krasserm's layer names."""
    import h5py

    from visiontk.backbones.edsr import weighted_layers

    layers = weighted_layers(model)[:-1] if drop_last else weighted_layers(model)
    names = ["input_1", "lambda"]
    with h5py.File(path, "w") as f:
        for i, layer in enumerate(layers):
            name = "conv2d" if i == 0 else f"conv2d_{i}"
            names.append(name)
            group = f.create_group(name)
            weight_names = [f"{name}/kernel:0", f"{name}/bias:0"]
            group.attrs["weight_names"] = [n.encode() for n in weight_names]
            for weight_name, value in zip(weight_names, layer.get_weights()):
                group.create_dataset(weight_name, data=value)
        f.attrs["layer_names"] = [n.encode() for n in names + ["lambda_3"]]
        for extra in ("input_1", "lambda", "lambda_3"):
            f.create_group(extra).attrs["weight_names"] = []


def test_models_import_krasserm_weights(tmp_path, run_cli, set5):
    import keras

    from visiontk.backbones.edsr import EDSR
    from visiontk.sr.upscale import Upscaler

    keras.utils.set_random_seed(5)
    reference = EDSR(4, blocks=2, features=8)
    _write_krasserm_h5(tmp_path / "weights.h5", reference)
    result = run_cli("models", "import", "edsr-x4-krasserm", tmp_path / "weights.h5")
    assert result.exit_code == 0, result.stderr
    rgb = np.asarray(Image.open(set5 / "bird.png"))[:40, :40]
    imported = Upscaler(4, "edsr-x4-krasserm", precision="float32").predict(rgb.astype(np.float32))
    np.testing.assert_allclose(imported, reference(rgb[None].astype(np.float32))[0].numpy(), atol=1e-3)
    listed = [json.loads(line) for line in run_cli("models", "list", "--json").stdout.splitlines()]
    assert next(m for m in listed if m["name"] == "edsr-x4-krasserm")["present"]
    converted = Path(result.stdout.rsplit(" ", 1)[-1].strip())
    converted.write_bytes(converted.read_bytes() + b"tampered")  # no longer the file the import wrote
    result = run_cli("sr", "upscale", set5 / "bird.png", "--model", "edsr-x4-krasserm", "-o", tmp_path / "x.png")
    assert result.exit_code == 4 and "hash mismatch" in result.stderr

    _write_krasserm_h5(tmp_path / "broken.h5", reference, drop_last=True)
    result = run_cli("models", "import", "edsr-x4-krasserm", tmp_path / "broken.h5")
    assert result.exit_code == 4 and "match no EDSR" in result.stderr
    (tmp_path / "junk.h5").write_bytes(b"junk")
    assert run_cli("models", "import", "edsr-x4-krasserm", tmp_path / "junk.h5").exit_code == 4


def test_train_cli_mirrored_then_export_with_card(set5, tmp_path, run_cli):
    run = tmp_path / "run"
    result = run_cli("sr", "train", set5, "--scale", "2", "--out", run, "--steps", "2", "--batch", "2",
                     "--patch", "16", "--val-images", "1", "--val-every", "2", "--checkpoint-every", "2",
                     "--blocks", "1", "--features", "8", "--strategy", "mirrored", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["step"] == 2
    result = run_cli("sr", "train", set5, "--scale", "2", "--out", run, "--steps", "4", "--halve-every", "2",
                     "--strategy", "default")
    assert result.exit_code == 0, result.stderr  # resumed on one device, learning rate now halved every 2 steps
    result = run_cli("sr", "train", set5, "--scale", "2", "--out", run, "--json")
    assert json.loads(result.stdout)["step"] == 4  # no --steps: the run's own total, not the default
    result = run_cli("--seed", "1", "sr", "train", set5, "--out", run)
    assert result.exit_code == 2 and "--seed (the run has 0)" in result.output  # the global --seed is the run's
    out = tmp_path / "models" / "edsr-x2.weights.h5"
    result = run_cli("sr", "export", run, "-o", out, "--eval-dir", set5 / "bird.png", "--json")
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    card = (tmp_path / "models" / "edsr-x2.md").read_text()
    assert record["sha256"] in card and "| bird.png |" in card
    assert "learning rate 0.0001 for steps 1-2, 5e-05 for steps 3-4" in card
    assert run_cli("sr", "export", run, "-o", out).exit_code == 3  # exists: not clobbered
