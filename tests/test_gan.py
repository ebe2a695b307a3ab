"""visiontk gan: data loading, DCGAN training/resume, generation, and the judges' scores."""
from __future__ import annotations

import csv
import gzip
import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from visiontk.errors import BadInputError

FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
needs_fashion_mnist = pytest.mark.skipif(not (FASHION_MNIST / "t10k-images-idx3-ubyte.gz").is_file(),
                                         reason="apt-get install dataset-fashion-mnist")


# ---- a tiny synthetic data set ------------------------------------------------------------------------

def disc(size: int, rng: np.random.Generator) -> tuple[Image.Image, Image.Image]:
    """A coloured disc on a dark background, and its mask."""
    image = Image.new("RGB", (size, size), tuple(int(v) for v in rng.integers(0, 60, 3)))
    mask = Image.new("L", (size, size), 0)
    radius = rng.uniform(size * 0.2, size * 0.4)
    cx, cy = rng.uniform(radius, size - radius, 2)
    box = [cx - radius, cy - radius, cx + radius, cy + radius]
    ImageDraw.Draw(image).ellipse(box, fill=tuple(int(v) for v in rng.integers(120, 256, 3)))
    ImageDraw.Draw(mask).ellipse(box, fill=255)
    return image, mask


def make_discs(folder: Path, count: int = 96, size: int = 28, masks: Path | None = None) -> Path:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        image, mask = disc(size, rng)
        image.save(folder / f"disc{i:03d}.png")
        if masks is not None:
            masks.mkdir(parents=True, exist_ok=True)
            mask.save(masks / f"disc{i:03d}.png")
    return folder


@pytest.fixture(scope="module")
def discs(tmp_path_factory) -> Path:
    return make_discs(tmp_path_factory.mktemp("discs") / "images")


def read_losses(run: Path) -> list[dict]:
    """metrics.csv without its `seconds` column (which differs from run to run)."""
    with open(run / "metrics.csv", newline="") as handle:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(handle)]


def checkpoint_arrays(run: Path) -> dict[str, np.ndarray]:
    """Every value of the run's last checkpoint (both networks, both optimisers, the step) except the
    training time and the count of saves, which an interrupted run does not share with the others."""
    import tensorflow as tf

    reader = tf.train.load_checkpoint(str(run / "checkpoints"))
    return {key: reader.get_tensor(key) for key in reader.get_variable_to_shape_map()
            if not key.startswith(("seconds", "save_counter", "_CHECKPOINTABLE"))}


def assert_same_weights(run: Path, other: Path) -> None:
    mine, theirs = checkpoint_arrays(run), checkpoint_arrays(other)
    assert sorted(mine) == sorted(theirs) and any("optimizer" in key for key in mine)
    assert all(np.array_equal(mine[key], theirs[key]) for key in mine), \
        [key for key in mine if not np.array_equal(mine[key], theirs[key])]


def tiny_config(**changes):
    from visiontk.gan import TrainConfig

    return TrainConfig(**{"epochs": 2, "batch_size": 32, "log_every": 1, "width": 16, "seed": 5, **changes})


# ---- data -----------------------------------------------------------------------------------------------

def test_folder_idx_and_npz_load_alike(tmp_path, discs):
    from visiontk.gan.data import load_images

    images = load_images(discs)
    assert images.shape == (96, 28, 28, 3) and images.dtype == np.uint8
    gray = images[:10, ..., :1]
    header = bytes([0, 0, 8, 3]) + b"".join(int(n).to_bytes(4, "big") for n in gray.shape[:3])
    with gzip.open(tmp_path / "train-images-idx3-ubyte.gz", "wb") as handle:
        handle.write(header + gray.tobytes())
    (tmp_path / "plain-images-idx3-ubyte").write_bytes(header + gray.tobytes())
    np.savez(tmp_path / "data.npz", images=gray[..., 0])
    for source in (tmp_path / "train-images-idx3-ubyte.gz", tmp_path / "plain-images-idx3-ubyte",
                   tmp_path / "data.npz", tmp_path):  # a folder holding IDX files means its training images
        np.testing.assert_array_equal(load_images(source), gray)
    assert load_images(tmp_path / "data.npz", image_size=32).shape == (10, 32, 32, 1)


def test_empty_folder_is_a_clear_error(tmp_path, run_cli):
    (tmp_path / "empty").mkdir()
    result = run_cli("gan", "train", tmp_path / "empty", "--out", tmp_path / "run")
    assert result.exit_code == 3
    assert "no images found" in result.stderr and str(tmp_path / "empty") in result.stderr
    assert not (tmp_path / "run").exists()


def test_mixed_sizes_need_image_size_then_are_cropped(tmp_path, caplog):
    from visiontk.gan.data import load_images

    make_discs(tmp_path / "mixed", count=3, size=28)
    Image.new("RGB", (40, 30), "red").save(tmp_path / "mixed" / "wide.png")
    with pytest.raises(BadInputError, match="different sizes.*`image_size`"):
        load_images(tmp_path / "mixed")
    images = load_images(tmp_path / "mixed", image_size=28)
    assert images.shape == (4, 28, 28, 3)
    assert "1 of 4 images were centre-cropped and resized" in caplog.text


def test_corrupt_file_is_named(tmp_path, run_cli):
    make_discs(tmp_path / "data", count=4)
    (tmp_path / "data" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    result = run_cli("gan", "train", tmp_path / "data", "--out", tmp_path / "run")
    assert result.exit_code == 3
    assert "broken.png" in result.stderr and "Traceback" not in result.stderr


def test_bad_idx_and_npz_are_clear_errors(tmp_path):
    from visiontk.gan.data import load_images

    header = bytes([0, 0, 8, 3]) + (5).to_bytes(4, "big") * 3
    (tmp_path / "x-images-idx3-ubyte").write_bytes(header + b"\0" * 7)
    with pytest.raises(BadInputError, match="truncated"):
        load_images(tmp_path / "x-images-idx3-ubyte")
    np.savez(tmp_path / "d.npz", labels=np.zeros(3))
    with pytest.raises(BadInputError, match="no image array"):
        load_images(tmp_path / "d.npz")


# ---- networks -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("size,channels", [(28, 1), (32, 3), (64, 4)])
def test_dcgan_depth_follows_image_size(size, channels):
    from visiontk.backbones.dcgan import dcgan_discriminator, dcgan_generator

    generator = dcgan_generator(size, channels, latent_dim=16, width=8)
    discriminator = dcgan_discriminator(size, channels, width=8)
    images = generator(np.zeros((2, 16), np.float32), training=False)
    assert tuple(images.shape) == (2, size, size, channels)
    assert tuple(discriminator(images).shape) == (2, 1)
    kernel = generator.get_layer("output_deconv").kernel.numpy()
    assert abs(kernel.std() - 0.02) < 0.005  # N(0, 0.02) initialisation
    # Batch norm everywhere except the discriminator's input layer and the generator's output.
    assert not any(layer.name.startswith("down1_bn") for layer in discriminator.layers)
    assert generator.layers[-1].name == "output_tanh" and generator.layers[-2].name == "output_deconv"


# ---- training ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, discs) -> Path:
    from visiontk.cli.main import cli
    from click.testing import CliRunner

    run = tmp_path_factory.mktemp("gan") / "run"
    args = ["--seed", "5", "gan", "train", str(discs), "--out", str(run), "--epochs", "2",
            "--batch-size", "32", "--log-every", "1", "--filters", "16", "--json"]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["step"] for row in rows] == [1, 2, 3, 4, 5, 6]   # 96 images / 32, two epochs
    assert all(row["input"] == str(run) and row["ok"] for row in rows)
    return run


def test_training_writes_the_run_folder(trained_run):
    for name in ("config.json", "metrics.csv", "checkpoints/checkpoint", "samples/epoch-001.png",
                 "samples/epoch-002.png", "curves.png"):
        assert (trained_run / name).is_file(), name
    assert not (trained_run / "losses.csv").exists() and not (trained_run / "checkpoint.npz").exists()
    rows = read_losses(trained_run)
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4, 5, 6]
    assert all(np.isfinite(float(r["d_loss"])) and float(r["d_loss"]) > 0 for r in rows)
    assert all(0 < float(r["d_real"]) < 1 and 0 < float(r["d_fake"]) < 1 for r in rows)
    sheet = Image.open(trained_run / "samples" / "epoch-002.png")
    assert sheet.mode == "RGB" and sheet.size[0] > 8 * 28
    assert np.asarray(sheet).std() > 1  # not a blank sheet
    assert Image.open(trained_run / "curves.png").format == "PNG"
    config = json.loads((trained_run / "config.json").read_text())
    assert config["seed"] == 5 and config["epochs"] == 2 and config["channels"] == 3


def test_ctrl_c_mid_epoch_then_the_same_command_ends_with_identical_weights(tmp_path, discs, trained_run,
                                                                           monkeypatch):
    from visiontk import gan
    from visiontk.gan.training import _Networks

    calls = {"n": 0}
    step = _Networks.step

    def step_then_interrupt(self, real, noise):
        calls["n"] += 1
        if calls["n"] == 4:  # during step 4 of 6 (epoch 2): a Ctrl-C arrives
            os.kill(os.getpid(), signal.SIGINT)
        return step(self, real, noise)

    monkeypatch.setattr(_Networks, "step", step_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        gan.train([discs], tmp_path / "run", tiny_config())
    monkeypatch.setattr(_Networks, "step", step)
    assert (tmp_path / "run" / "checkpoints" / "ckpt-4.index").is_file()   # saved after the step
    assert [int(r["step"]) for r in read_losses(tmp_path / "run")] == [1, 2, 3, 4]
    last = gan.train([discs], tmp_path / "run", tiny_config())
    assert last["step"] == 6
    assert_same_weights(tmp_path / "run", trained_run)
    assert read_losses(tmp_path / "run") == read_losses(trained_run)


def test_more_epochs_on_the_run_continues_it_exactly(tmp_path, discs, trained_run, run_cli):
    from visiontk import gan

    gan.train([discs], tmp_path / "run", tiny_config(epochs=1))
    assert len(read_losses(tmp_path / "run")) == 3
    # The older form, --resume RUN without DATA, is the same command.
    result = run_cli("--seed", "5", "gan", "train", "--resume", tmp_path / "run", "--epochs", "2")
    assert result.exit_code == 0, result.stderr
    assert "step 6" in result.stdout
    assert read_losses(tmp_path / "run") == read_losses(trained_run)
    assert_same_weights(tmp_path / "run", trained_run)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["epochs"] == 2


def test_resume_refuses_settings_that_cannot_change(trained_run, discs, run_cli):
    before = (trained_run / "config.json").read_text()
    result = run_cli("gan", "train", discs, "--out", trained_run, "--filters", "8")
    assert result.exit_code == 2 and "--filters (the run has 16)" in result.stderr
    result = run_cli("--seed", "6", "gan", "train", discs, "--out", trained_run)
    assert result.exit_code == 2 and "--seed (the run has 5)" in result.stderr
    assert (trained_run / "config.json").read_text() == before
    assert [int(r["step"]) for r in read_losses(trained_run)] == [1, 2, 3, 4, 5, 6]


def test_a_run_of_an_older_visiontk_is_refused(tmp_path, discs, run_cli):
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "config.json").write_text("{}")
    (tmp_path / "old" / "checkpoint.npz").write_bytes(b"")
    result = run_cli("gan", "train", discs, "--out", tmp_path / "old")
    assert result.exit_code == 3 and "older visiontk" in result.stderr and "new run folder" in result.stderr


def test_another_tasks_run_is_refused_and_left_alone(tmp_path, discs, run_cli):
    (tmp_path / "style").mkdir()
    settings = json.dumps({"style": "painting.jpg", "data": ["photos"], "steps": 10})
    (tmp_path / "style" / "config.json").write_text(settings)
    result = run_cli("gan", "train", discs, "--out", tmp_path / "style")
    assert result.exit_code == 3 and "not a `visiontk gan train` run" in result.stderr
    assert (tmp_path / "style" / "config.json").read_text() == settings
    assert sorted(p.name for p in (tmp_path / "style").iterdir()) == ["config.json"]


def test_export_writes_the_runs_generator(trained_run, tmp_path, run_cli):
    result = run_cli("gan", "export", trained_run, "-o", tmp_path / "mine.weights.h5", "--json")
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["weights"] == str(tmp_path / "mine.weights.h5") and record["ok"]
    config = json.loads((tmp_path / "mine.json").read_text())
    assert config["channels"] == 3 and config["width"] == 16 and config["step"] == 6
    # The older form, DESTINATION as an argument, still works; an existing file needs --overwrite.
    assert run_cli("gan", "export", trained_run, tmp_path / "mine.weights.h5").exit_code == 3
    assert run_cli("gan", "export", trained_run, tmp_path / "old.weights.h5").exit_code == 0
    sheets = []
    for model in (trained_run, tmp_path / "mine.weights.h5", tmp_path / "old.weights.h5"):
        sheets.append(tmp_path / f"sheet{len(sheets)}.png")
        result = run_cli("gan", "generate", "--model", model, "-n", "4", "--seed", "2", "--grid", sheets[-1])
        assert result.exit_code == 0, result.stderr
    assert sheets[0].read_bytes() == sheets[1].read_bytes() == sheets[2].read_bytes()
    assert run_cli("gan", "export", trained_run).exit_code == 2


def test_four_channel_training_and_generation(tmp_path, run_cli):
    images = make_discs(tmp_path / "images", count=64, size=32, masks=tmp_path / "masks")
    run = tmp_path / "run"
    result = run_cli("gan", "train", images, "--masks", tmp_path / "masks", "--out", run,
                     "--image-size", "32", "--epochs", "1", "--batch-size", "32", "--filters", "8")
    assert result.exit_code == 0, result.stderr
    assert json.loads((run / "config.json").read_text())["channels"] == 4
    assert (run / "samples" / "epoch-001-mask.png").is_file()

    result = run_cli("gan", "generate", "--model", run, "-n", "4", "--grid", tmp_path / "grid.png",
                     "--output-dir", tmp_path / "single", "--seed", "1")
    assert result.exit_code == 0, result.stderr
    assert Image.open(tmp_path / "grid.png").mode == "RGB"
    assert Image.open(tmp_path / "grid-mask.png").mode == "L"
    single = Image.open(tmp_path / "single" / "sample-00000.png")
    assert single.mode == "RGB" and single.size == (32, 32)
    assert Image.open(tmp_path / "single" / "sample-00000-mask.png").size == (32, 32)

    result = run_cli("gan", "generate", "--model", run, "-n", "2", "--output-dir", tmp_path / "rgba",
                     "--rgba")
    assert result.exit_code == 0, result.stderr
    assert Image.open(tmp_path / "rgba" / "sample-00001.png").mode == "RGBA"


def test_mirrored_strategy_over_two_logical_cpus(tmp_path, discs):
    """One step split over two replicas gives the same losses as the whole batch on one device."""
    import subprocess
    import sys

    code = ("import sys; from visiontk import gan, runtime; runtime.configure(cpu_devices=2); "
            "gan.train([sys.argv[1]], sys.argv[2], gan.TrainConfig(epochs=1, batch_size=32, log_every=1, "
            "width=8, seed=2, strategy='mirrored', limit=64))")
    done = subprocess.run([sys.executable, "-c", code, str(discs), str(tmp_path / "run")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = read_losses(tmp_path / "run")
    assert len(rows) == 2 and all(np.isfinite(float(r["g_loss"])) for r in rows)


# ---- generation with the shipped model ----------------------------------------------------------------

def test_shipped_model_generates_varied_fashion_images(tmp_path, run_cli):
    result = run_cli("gan", "generate", "-n", "64", "--grid", tmp_path / "sheet.png", "--seed", "3", "--json")
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["model"] == "dcgan-fashion-mnist" and record["shape"] == [28, 28, 1]
    sheet = Image.open(tmp_path / "sheet.png")
    assert sheet.mode == "L" and sheet.size == (8 * 30 + 2, 8 * 30 + 2)
    result = run_cli("gan", "generate", "-n", "4", "--grid", tmp_path / "big.png", "--zoom", "3")
    assert result.exit_code == 0 and Image.open(tmp_path / "big.png").size == (3 * 62, 3 * 62)

    from visiontk.gan import load_model
    from visiontk.gan.generate import latents

    generator = load_model()
    images = generator.images(latents(32, generator.latent_dim, seed=3)).astype(np.float64)
    assert images.shape == (32, 28, 28, 1)
    assert images.std(axis=(1, 2, 3)).min() > 10          # no constant image
    assert images.std(axis=0).mean() > 20                 # the images differ from one another
    assert (images.mean(axis=(1, 2, 3)) < 5).sum() == 0   # no empty, black image


def test_interpolation_strip(tmp_path, run_cli):
    result = run_cli("gan", "interpolate", "1", "2", "-n", "5", "-o", tmp_path / "walk.png")
    assert result.exit_code == 0, result.stderr
    strip = np.asarray(Image.open(tmp_path / "walk.png"), dtype=np.float64)
    assert strip.shape[1] > 4 * strip.shape[0]
    result = run_cli("gan", "interpolate", "1", "2", "-o", tmp_path / "walk.png")
    assert result.exit_code == 3 and "exists" in result.stderr


def test_generate_refuses_to_clobber_and_needs_a_target(tmp_path, run_cli):
    (tmp_path / "out.png").write_bytes(b"keep")
    result = run_cli("gan", "generate", "-n", "4", "--grid", tmp_path / "out.png")
    assert result.exit_code == 3 and (tmp_path / "out.png").read_bytes() == b"keep"
    assert run_cli("gan", "generate", "-n", "4").exit_code == 3


# ---- scoring --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fashion_test_images():
    from visiontk.gan.data import load_images

    return load_images(FASHION_MNIST / "t10k-images-idx3-ubyte.gz", limit=2000)


@needs_fashion_mnist
def test_judge_scores_real_images_far_above_noise(fashion_test_images, tmp_path):
    from visiontk import gan
    from visiontk.gan.judge import load_judge

    real = gan.score(fashion_test_images)
    noise = gan.score(np.random.default_rng(0).integers(0, 256, fashion_test_images.shape, dtype=np.uint8))
    assert real["inception_score"] > 6.0
    assert noise["inception_score"] < 2.5
    assert real["inception_score"] > 3 * noise["inception_score"]
    # The judge classifies real test images mostly right.
    from visiontk.gan.data import load_idx

    labels = load_idx(FASHION_MNIST / "t10k-labels-idx1-ubyte.gz")[:2000]
    probabilities, _ = load_judge().judge(fashion_test_images)
    assert (probabilities.argmax(axis=1) == labels).mean() > 0.88


@needs_fashion_mnist
def test_fid_is_small_between_real_halves_and_large_for_noise(fashion_test_images, tmp_path):
    from visiontk import gan

    np.savez(tmp_path / "half.npz", images=fashion_test_images[1000:])
    real = gan.score(fashion_test_images[:1000], reference=tmp_path / "half.npz")
    noise = gan.score(np.random.default_rng(0).integers(0, 256, (1000, 28, 28, 1), dtype=np.uint8),
                      reference=tmp_path / "half.npz")
    assert real["fid"] < noise["fid"] / 10


@needs_fashion_mnist
def test_four_channel_images_are_scored_on_rgb(fashion_test_images):
    from visiontk import gan

    rgb = np.repeat(fashion_test_images[:500], 3, axis=-1)
    rgba = np.concatenate([rgb, np.full(rgb.shape[:3] + (1,), 7, np.uint8)], axis=-1)
    assert gan.score(rgba)["inception_score"] == gan.score(rgb)["inception_score"]


def test_score_cli_json_with_the_shipped_model(run_cli):
    result = run_cli("gan", "score", "--model", "dcgan-fashion-mnist", "-n", "200", "--seed", "0", "--json")
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["n"] == 200 and record["inception_score"] > 2 and record["inception_score_std"] >= 0


def test_score_reads_image_paths_from_stdin_like_a_folder(run_cli, discs, tmp_path):
    listed = "".join(f"{path}\n" for path in sorted(discs.glob("*.png")))
    from_stdin = run_cli("gan", "score", "-", "--json", input=listed)
    from_folder = run_cli("gan", "score", discs, "--json")
    assert from_stdin.exit_code == from_folder.exit_code == 0, from_stdin.stderr
    assert json.loads(from_stdin.stdout)["inception_score"] == json.loads(from_folder.stdout)["inception_score"]
    missing = run_cli("gan", "score", "-", input=listed + f"{tmp_path / 'gone.png'}\n")
    assert missing.exit_code == 3 and "gone.png" in missing.stderr
    refused = run_cli("gan", "train", "-", "--out", tmp_path / "run", input=listed)
    assert refused.exit_code == 3 and "not paths on stdin" in refused.stderr


def test_inception_judge_cannot_be_downloaded_here(run_cli, tmp_path):
    result = run_cli("gan", "score", "--judge", "inception", "--model", "dcgan-fashion-mnist", "-n", "20")
    assert result.exit_code == 4
    assert "inception-v3-imagenet" in result.stderr and "visiontk models" in result.stderr
