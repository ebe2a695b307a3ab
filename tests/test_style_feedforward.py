"""Feed-forward style transfer: the network, training that resumes exactly, and `stylize --model`.

Training runs here use a tiny network and tiny crops (mechanics); the VGG16 losses are the real ones."""
from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest

from visiontk.errors import BadInputError
from visiontk.imageio import read_image

TINY = dict(batch_size=2, crop=64, crop_max=96, style_size=96, filters=4, residual_blocks=1, log_every=1,
            checkpoint_every=2, sample_every=0, precision="float32")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, shared):
    """A 6-step run of a tiny network on six shared photos (real VGG16 losses)."""
    os.environ["VISIONTK_MODELS"] = str(shared / "weights")
    from visiontk.style import export, load_model, training

    run = tmp_path_factory.mktemp("ff") / "run"
    config = training.config_from(shared / "data/style/starry_night.jpg", [shared / "data/faces"],
                                     steps=6, samples=[str(shared / "data/content/coffee.png")], **TINY)
    last = training.train([], run, config)
    return run, last


def _weights(run):
    from visiontk.style import export, load_model, training

    out = run.parent / f"{run.name}.weights.h5"
    export(run, out, overwrite=True)
    model = load_model(out)
    return [w.numpy() for w in model.weights]


def test_network_keeps_any_size_and_saves_without_lambda(tmp_path):
    from visiontk.backbones.transformer import StyleTransformer
    from visiontk.style import FastStylizer
    from visiontk.training import save_weights

    model = StyleTransformer(filters=4, residual_blocks=1)
    assert not any(type(layer).__name__ == "Lambda" for layer in model.layers)
    assert model(np.zeros((1, 32, 48, 3), np.float32)).shape == (1, 32, 48, 3)
    path = save_weights(model, tmp_path / "net.weights.h5")
    stylizer = FastStylizer(path, precision="float32")
    rng = np.random.default_rng(0)
    for height, width in ((37, 51), (17, 23), (64, 64)):
        photo = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        painted = stylizer(photo, size=None)
        assert painted.shape == photo.shape and painted.dtype == np.uint8
    with pytest.raises(BadInputError, match="at least 16"):
        stylizer(np.zeros((5, 9, 3), np.uint8), size=None)
    # The weights file holds the whole network: loading it gives the same output as the model saved.
    photo = rng.integers(0, 256, (1, 32, 32, 3)).astype(np.float32)
    expected = np.clip(np.round(model(photo).numpy()[0]), 0, 255)
    assert np.array_equal(stylizer.paint(photo[0].astype(np.uint8)), expected.astype(np.uint8))


def test_training_writes_the_run_folder_and_the_loss_falls(tiny_run):
    run, last = tiny_run
    assert json.loads((run / "config.json").read_text())["steps"] == 6
    rows = (run / "metrics.csv").read_text().splitlines()
    assert rows[0].split(",")[:3] == ["step", "seconds", "loss"] and len(rows) == 7
    losses = [float(r.split(",")[2]) for r in rows[1:]]
    assert losses[-1] < losses[0] / 2
    assert (run / "curves.png").stat().st_size > 1000
    assert (run / "samples" / "step-000006.jpg").exists()
    assert last["step"] == 6


def test_resumed_training_ends_with_the_weights_of_an_uninterrupted_run(tiny_run, tmp_path, shared):
    from visiontk.style import export, load_model, training

    run, _ = tiny_run
    resumed = tmp_path / "resumed"
    config = training.config_from(shared / "data/style/starry_night.jpg", [shared / "data/faces"],
                                     steps=3, **TINY)
    training.train([], resumed, config)
    config.steps = 6
    training.train([], resumed, config, given=["steps"])
    assert [int(r.split(",")[0]) for r in (resumed / "metrics.csv").read_text().splitlines()[1:]] == \
        [1, 2, 3, 4, 5, 6]
    for a, b in zip(_weights(run), _weights(resumed)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_resume_refuses_a_changed_setting(tiny_run, shared):
    from visiontk.errors import VisiontkError
    from visiontk.style import export, load_model, training

    run, _ = tiny_run
    config = training.config_from(shared / "data/style/the_scream.jpg", [shared / "data/faces"], **TINY)
    with pytest.raises(VisiontkError, match="style"):
        training.train([], run, config, given=["style"])


def test_sigterm_saves_a_checkpoint_and_stops(tmp_path):
    from visiontk import training

    import keras

    counter = keras.Variable(0.0)
    checkpoints = training.Checkpoints(tmp_path, counter=counter)
    metrics = training.Metrics(tmp_path)

    def step(n):
        counter.assign_add(1.0)
        if n == 3:
            os.kill(os.getpid(), signal.SIGTERM)
        return {"loss": 1.0 / n}

    with pytest.raises(KeyboardInterrupt):
        training.train_steps(step, start=0, total=10, checkpoints=checkpoints, metrics=metrics,
                             checkpoint_every=100, log_every=100)
    again = training.Checkpoints(tmp_path, counter=keras.Variable(0.0))
    assert again.restore() == 3
    assert float(again.manager.checkpoint.counter.numpy()) == 3.0
    assert [row["step"] for row in training.Metrics(tmp_path, 3).rows] == ["3"]


@pytest.mark.slow
def test_cli_trains_exports_and_paints_a_folder(run_cli, shared_weights, shared, tmp_path):
    run = tmp_path / "run"
    result = run_cli("stylize", "train", shared / "data/style/the_scream.jpg", shared / "data/faces",
                     "--out", run, "--steps", "2", "--batch-size", "1", "--crop", "64", "--crop-max", "64", "--style-size", "64",
                     "--filters", "4", "--residual-blocks", "1", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1])["step"] == 2
    weights = tmp_path / "scream.weights.h5"
    assert run_cli("stylize", "export", run, "-o", weights).exit_code == 0
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("coffee.png", "rocket.jpg"):
        (photos / name).write_bytes((shared / "data/content" / name).read_bytes())
    out = tmp_path / "out"
    result = run_cli("stylize", photos, "--model", weights, "--output-dir", out, "--size", "100",
                     "--preserve-color", "--json")
    assert result.exit_code == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["ok"] for r in records] == [True, True]
    for record in records:
        painted = read_image(record["output"])
        assert max(painted.shape[:2]) == 100
    # A second run with --skip-existing does nothing; a style image and --model together are refused.
    again = run_cli("stylize", photos, "--model", weights, "--output-dir", out, "--skip-existing", "--json")
    assert again.exit_code == 0 and again.stdout == ""
    both = run_cli("stylize", photos / "coffee.png", "-s", shared / "data/style/the_scream.jpg",
                   "--model", weights, "-o", tmp_path / "x.png")
    assert both.exit_code == 2


def test_unknown_style_model_is_a_weights_error(run_cli, shared, tmp_path):
    result = run_cli("stylize", shared / "data/content/coffee.png", "--model", "no-such-style",
                     "-o", tmp_path / "x.png")
    assert result.exit_code == 4
    assert "starry-night" in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_cli_paints_a_clip_with_a_model_and_with_gatys(run_cli, shared_weights, tmp_path):
    pytest.importorskip("av")
    from test_videoio import audio_packets, make_clip

    from visiontk.backbones.transformer import StyleTransformer
    from visiontk.training import save_weights
    from visiontk.videoio import probe

    clip = make_clip(tmp_path / "clip.mp4", frames=8, size=(96, 64), audio=True)
    weights = save_weights(StyleTransformer(filters=4, residual_blocks=1), tmp_path / "net.weights.h5")
    out = tmp_path / "out"
    result = run_cli("stylize", clip, "--model", weights, "--output-dir", out, "--json")
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["ok"] and record["frames"] == 8 and record["consistency"] is True
    painted = out / "clip_stylized.mp4"
    info = probe(painted)
    assert (info.width, info.height) == (96, 64)       # a clip keeps its frame size unless --size is given
    assert audio_packets(painted) == audio_packets(clip)
    # Gatys, each frame warm-started from the previous result; --size applies.
    gatys = tmp_path / "gatys.mp4"
    result = run_cli("stylize", clip, "-s", shared_weights.parent / "data/style/the_scream.jpg", "-o", gatys,
                     "--backbone", "vgg16", "--size", "48", "--scales", "1", "--iterations", "2")
    assert result.exit_code == 0, result.stderr
    assert "8 frames with temporal consistency" in result.stdout
    assert probe(gatys).frames == 8 and max(probe(gatys).width, probe(gatys).height) == 48


def test_export_of_a_folder_that_holds_no_run_is_bad_input_and_creates_nothing(run_cli, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_cli("stylize", "export", empty, "-o", tmp_path / "x.weights.h5")
    assert result.exit_code == 3 and "not a training run" in result.stderr
    assert not any(empty.iterdir()) and not (tmp_path / "x.weights.h5").exists()
