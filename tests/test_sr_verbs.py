"""The sr task's verbs as a Python user calls them (issue 26): `load_model` in sr.model, `upscale` and
`upscale_file` deciding photo or clip in the library (the scale given once), the output names, and
`sr train`'s options made from TrainConfig, with a run folder of the old `batch` key resuming exactly."""
from __future__ import annotations

import dataclasses
import importlib
import inspect
import json

import numpy as np
import pytest
from PIL import Image

from test_sr import metrics_rows, set5, tiny_run, tiny_weights  # noqa: F401 (fixtures: Set5, random-weight EDSRs)


@pytest.fixture
def photo(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "photo.png"
    Image.fromarray(rng.integers(0, 256, (14, 20, 3), dtype=np.uint8)).save(path)
    return path


def test_load_model_lives_in_sr_model_and_keeps_its_old_import(tiny_weights):
    from visiontk import sr
    from visiontk.sr import model

    old = importlib.import_module("visiontk.sr.upscale")
    assert sr.load_model is model.load_model is old.load_model
    network = sr.load_model(tiny_weights[3])       # no scale given: the weights' own
    assert network(np.zeros((1, 8, 10, 3), np.float32)).shape == (1, 24, 30, 3)


def test_load_model_gives_the_shipped_network():
    from visiontk import sr

    network = sr.load_model("edsr-x2")
    assert network.count_params() == 1_369_859    # krasserm's edsr(scale=2): 16 blocks x 64 features
    assert network(np.zeros((1, 6, 7, 3), np.float32)).shape == (1, 12, 14, 3)


def test_upscale_file_writes_a_photo_as_the_upscaler_computes_it(tiny_weights, photo, tmp_path):
    from visiontk.sr import Upscaler, upscale_file

    upscaler = Upscaler(2, tiny_weights[2])
    record = upscale_file(upscaler, photo, tmp_path / "big.png")
    assert {k: record[k] for k in ("output", "scale", "size", "output_size", "bits", "tiles")} == {
        "output": str(tmp_path / "big.png"), "scale": 2, "size": [20, 14], "output_size": [40, 28], "bits": 8,
        "tiles": 1}
    expected = upscaler.upscale_rgb(np.asarray(Image.open(photo)))
    assert np.array_equal(np.asarray(Image.open(tmp_path / "big.png")), expected)
    ensemble = Upscaler(2, tiny_weights[2], self_ensemble=True)
    record = upscale_file(ensemble, photo, tmp_path / "ensembled.png")
    assert record["tiles"] == 4                 # the one tile, once per flip: the work done


def test_upscale_file_upscales_a_clip_frame_by_frame(tiny_weights, tmp_path):
    pytest.importorskip("av")
    from test_videoio import make_clip
    from visiontk.sr import Upscaler, upscale_file
    from visiontk.videoio import probe

    clip = make_clip(tmp_path / "clip.mp4", frames=4, size=(32, 24), audio=False)
    record = upscale_file(Upscaler(2, tiny_weights[2]), clip, tmp_path / "big.mp4", width=48)
    assert record["output_size"] == [48, 36] and record["scale"] == 2
    info = probe(tmp_path / "big.mp4")
    assert (info.width, info.height, info.frames) == (48, 36, 4)


def test_upscale_takes_the_scale_once(tiny_weights, photo, tmp_path):
    from visiontk import sr
    from visiontk.errors import UsageError, WeightsError

    assert "upscaler" not in inspect.signature(sr.upscale).parameters
    assert sr.upscale(photo, tmp_path / "a.png", model=tiny_weights[3])["scale"] == 3   # the weights' scale
    assert sr.upscale(photo, tmp_path / "b.png", model=tiny_weights[2], outscale=1.5)["output_size"] == [30, 21]
    with pytest.raises(WeightsError):      # x4 asked of x2 weights: refused, never ignored
        sr.upscale(photo, tmp_path / "c.png", 4, model=tiny_weights[2])
    with pytest.raises(UsageError, match="more than the x2 model makes"):
        sr.upscale(photo, tmp_path / "d.png", model=tiny_weights[2], width=50)
    assert not (tmp_path / "c.png").exists() and not (tmp_path / "d.png").exists()


def test_output_names_and_the_outscale_check():
    from visiontk.errors import UsageError
    from visiontk.sr.upscale import check_outscale, output_suffix

    assert [output_suffix(4), output_suffix(4, 2.5), output_suffix(4, width=3000),
            output_suffix(4, width=800, height=600)] == ["_x4", "_x2.5", "_3000w", "_800wx600h"]
    check_outscale(4, 2.5)
    with pytest.raises(UsageError, match="`outscale` 2.5 is more than the x2 model makes"):
        check_outscale(2, 2.5)


def test_train_options_are_the_settings_fields(run_cli):
    from visiontk.sr.training import TrainConfig

    text = run_cli("sr", "train", "--help").stdout
    options = ["--" + f.name.replace("_", "-") for f in dataclasses.fields(TrainConfig) if f.metadata]
    assert len(options) == 25 and all(option in text for option in options)
    assert "--batch-size" in text and "--batch " not in text and "--lr " not in text and "--seed" not in text
    with pytest.warns(DeprecationWarning, match="batch= is deprecated, use batch_size="):
        assert TrainConfig(batch=3).batch_size == 3        # the old keyword, for one release
    with pytest.warns(DeprecationWarning, match="TrainConfig.batch is deprecated, use batch_size"):
        assert TrainConfig(batch_size=5).batch == 5         # and the old attribute
    assert "batch" not in dataclasses.asdict(TrainConfig(batch_size=3))


def test_a_run_of_the_old_batch_key_resumes_with_the_old_spelling_exactly(set5, tmp_path, run_cli):
    from visiontk.sr.training import train

    train([set5], tmp_path / "straight", tiny_run(4))
    old = tmp_path / "old"
    train([set5], old, tiny_run(2))
    config = json.loads((old / "config.json").read_text())
    config["batch"] = config.pop("batch_size")     # as `sr train` wrote it before the rename
    (old / "config.json").write_text(json.dumps(config))
    result = run_cli("sr", "train", set5, "--out", old, "--steps", "4", "--batch", "2", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1])["step"] == 4
    assert metrics_rows(old) == metrics_rows(tmp_path / "straight")
    assert (old / "best.weights.h5").read_bytes() == (tmp_path / "straight" / "best.weights.h5").read_bytes()
    assert json.loads((old / "config.json").read_text())["batch_size"] == 2
    refused = run_cli("sr", "train", set5, "--out", old, "--batch-size", "3")
    assert refused.exit_code == 2 and "--batch-size (the run has 2)" in refused.output
