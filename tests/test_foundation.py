"""The CLI shell, exit codes, the weights registry, the runtime and the shared VGG backbone."""
from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner

from visiontk import weights
from visiontk.cli.common import run_batch
from visiontk.cli.main import VisiontkGroup
from visiontk.errors import BadInputError, NoFaceError, WeightsError
from visiontk.weights.registry import KnownFile, WeightSpec, register

VGG16_SHA = "a2f51117308129c3de9a523c91d35160eb75a6a9e5db1e2afb4f48e48dfb733a"


def visiontk_subprocess(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "visiontk", *args], capture_output=True, text=True,
                          timeout=300, **kwargs)


def test_help_lists_the_command_groups(run_cli):
    result = run_cli("--help")
    assert result.exit_code == 0
    for group in ("stylize", "face", "gan", "sr", "models"):
        assert group in result.stdout


def test_version(run_cli):
    from visiontk import __version__
    result = run_cli("--version")
    assert result.exit_code == 0 and __version__ in result.stdout


def test_usage_error_is_exit_2(run_cli):
    assert run_cli("--device", "tpu", "models", "list").exit_code == 2
    assert run_cli("no-such-command").exit_code == 2


# A throwaway group with the real exit-code mapping, to check each error class in isolation.
@click.group(cls=VisiontkGroup)
def probe():
    pass


@probe.command()
@click.argument("kind")
def fail(kind):
    if kind == "predicate":
        return 1
    raise {"input": BadInputError("photo.jpg: corrupt or truncated image"),
           "face": NoFaceError("coffee.png: no face found"),
           "weights": WeightsError("weights 'x' not found"),
           "bug": ZeroDivisionError("division by zero"),
           "full disk": OSError(errno.ENOSPC, "No space left on device", "out/photo.png"),
           "read-only": OSError(errno.EROFS, "Read-only file system", "/mnt/out.png"),
           "memory": MemoryError(),
           "bug without errno": OSError("a library's own OSError"),
           "interrupt": KeyboardInterrupt()}[kind]


@probe.command()
@click.option("--continue-on-error", is_flag=True)
@click.option("--json", "as_json", is_flag=True)
@click.argument("names", nargs=-1)
def batch(continue_on_error, as_json, names):
    def work(path):
        if "bad" in path.name:
            raise BadInputError(f"{path}: corrupt or truncated image")
        return {"length": len(path.name)}
    return run_batch([Path(n) for n in names], work, as_json=as_json, continue_on_error=continue_on_error,
                     describe=lambda r: f"{r['input']}: {r['length']}")


@pytest.mark.parametrize("kind,code", [("predicate", 1), ("input", 3), ("face", 3), ("weights", 4),
                                       ("bug", 70), ("interrupt", 130), ("full disk", 3), ("read-only", 3),
                                       ("memory", 3), ("bug without errno", 70)])
def test_exit_codes_and_one_line_messages(kind, code):
    result = CliRunner().invoke(probe, ["fail", kind])
    assert result.exit_code == code
    assert "Traceback" not in result.stderr
    if code not in (1,):
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    if kind == "full disk":
        assert result.stderr.strip() == "visiontk: error: out/photo.png: no space left on the device"


def test_verbose_flag_adds_the_traceback():
    result = CliRunner().invoke(probe, ["fail", "bug"])
    assert "Traceback" not in result.stderr
    from visiontk.cli import main as cli_main
    cli_main._verbosity = 1
    try:
        result = CliRunner().invoke(probe, ["fail", "bug"])
    finally:
        cli_main._verbosity = 0
    assert "Traceback" in result.stderr and "ZeroDivisionError" in result.stderr


def test_batch_stops_at_first_failure_without_continue():
    result = CliRunner().invoke(probe, ["batch", "a.png", "bad.png", "c.png"])
    assert result.exit_code == 3
    assert "a.png: 5" in result.stdout and "c.png" not in result.stdout


def test_batch_continue_on_error_reports_each_failure_and_exits_5():
    result = CliRunner().invoke(probe, ["batch", "--continue-on-error", "--json", "a.png", "bad.png",
                                        "c.png", "bad2.png"])
    assert result.exit_code == 5
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["ok"] for r in records] == [True, False, True, False]
    assert [r["input"] for r in records if not r["ok"]] == ["bad.png", "bad2.png"]
    assert result.stderr.count("bad.png") == 1 and "2 of 4 inputs failed" in result.stderr


# ---- the weights registry -------------------------------------------------------------------------

@pytest.fixture
def toy_spec(tmp_path):
    payload = b"pretend these are weights" * 100
    import hashlib
    spec = register(WeightSpec(name="toy-test-weights", description="test only", source="tests",
                               files=(KnownFile("toy.bin", sha256=hashlib.sha256(payload).hexdigest()),)))
    yield spec, payload


def test_resolution_order_user_dirs_then_shipped_then_cache(toy_spec, tmp_path, monkeypatch):
    spec, payload = toy_spec
    first, second, cache = tmp_path / "first", tmp_path / "second", tmp_path / "cache"
    for folder in (first, second, cache):
        folder.mkdir()
        (folder / "toy.bin").write_bytes(payload)
    monkeypatch.setenv("VISIONTK_CACHE", str(cache))
    monkeypatch.setenv("VISIONTK_MODELS", f"{first}:{second}")
    assert weights.resolve(spec.name) == first / "toy.bin"
    monkeypatch.setenv("VISIONTK_MODELS", str(second))
    assert weights.resolve(spec.name) == second / "toy.bin"
    monkeypatch.delenv("VISIONTK_MODELS")
    assert weights.resolve(spec.name) == cache / "toy.bin"
    assert weights.search_dirs()[-2:] == [weights.shipped_dir(), cache]


def test_hash_mismatch_is_refused_with_exit_4(toy_spec, tmp_path, monkeypatch, run_cli):
    spec, payload = toy_spec
    (tmp_path / "toy.bin").write_bytes(payload[:-10])  # truncated
    monkeypatch.setenv("VISIONTK_MODELS", str(tmp_path))
    with pytest.raises(WeightsError, match="hash mismatch"):
        weights.resolve(spec.name)
    result = run_cli("models", "verify", spec.name)
    assert result.exit_code == 4 and "CORRUPT" in result.stdout
    assert result.stderr.startswith("visiontk: error:") and len(result.stderr.splitlines()) == 1


def test_import_checks_the_hash_and_copies_into_cache(toy_spec, tmp_path, monkeypatch, run_cli):
    spec, payload = toy_spec
    cache = tmp_path / "cache"
    monkeypatch.setenv("VISIONTK_CACHE", str(cache))
    (tmp_path / "wrong.bin").write_bytes(b"something else")
    assert run_cli("models", "import", spec.name, tmp_path / "wrong.bin").exit_code == 4
    assert not (cache / "toy.bin").exists()
    (tmp_path / "mine.bin").write_bytes(payload)
    result = run_cli("models", "import", spec.name, tmp_path / "mine.bin")
    assert result.exit_code == 0 and (cache / "toy.bin").read_bytes() == payload
    assert run_cli("models", "path", spec.name).stdout.strip() == str(cache / "toy.bin")


def test_unwritable_cache_is_exit_4(toy_spec, tmp_path, monkeypatch, run_cli):
    spec, payload = toy_spec
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("VISIONTK_CACHE", str(blocker / "cache"))
    (tmp_path / "mine.bin").write_bytes(payload)
    result = run_cli("models", "import", spec.name, tmp_path / "mine.bin")
    assert result.exit_code == 4 and "not writable" in result.stderr


def test_fetch_without_network_fails_cleanly(run_cli):
    result = run_cli("models", "fetch", "vgg19-imagenet")
    if result.exit_code == 0:
        pytest.skip("this machine can download (it has a network)")
    assert result.exit_code == 4
    assert "visiontk models import vgg19-imagenet" in result.stderr and "Traceback" not in result.stderr


def test_models_list_shows_presence(shared_weights, run_cli):
    result = run_cli("models", "list", "--json")
    assert result.exit_code == 0
    entries = {e["name"]: e for e in map(json.loads, result.stdout.splitlines())}
    assert entries["vgg16-imagenet"]["present"] is True
    assert entries["vgg19-imagenet"]["present"] is False or os.environ.get("VISIONTK_MODELS")
    assert {"dlib-face-resnet", "inception-v3-imagenet"} <= set(entries)


def test_shared_vgg16_file_accepted_via_import(shared, tmp_path, monkeypatch):
    monkeypatch.setenv("VISIONTK_CACHE", str(tmp_path))
    monkeypatch.delenv("VISIONTK_MODELS", raising=False)
    path = weights.import_file("vgg16-imagenet", shared / "weights" / "vgg16_imagenet_notop.weights.h5")
    assert weights.resolve("vgg16-imagenet") == path
    assert weights.registry.digest(path).sha256 == VGG16_SHA


def test_truncated_vgg_weights_give_exit_4_not_a_keras_crash(shared, tmp_path):
    source = shared / "weights" / "vgg16_imagenet_notop.weights.h5"
    with open(source, "rb") as full, open(tmp_path / source.name, "wb") as cut:
        cut.write(full.read(1_000_000))
    env = {**os.environ, "VISIONTK_MODELS": str(tmp_path)}
    result = visiontk_subprocess("models", "path", "vgg16-imagenet", env=env)
    assert result.returncode == 4 and "corrupt, truncated" in result.stderr
    assert "Traceback" not in result.stderr


# ---- the shared VGG backbone on the real weights --------------------------------------------------

@pytest.mark.slow
def test_real_vgg16_features_of_a_real_photo(shared_weights, shared):
    from visiontk.backbones.vgg import vgg_extractor
    from visiontk.imageio import read_image, resize_long_side

    layers = ["block1_conv1", "block3_conv1", "block5_conv1"]
    model = vgg_extractor("vgg16", layers)
    photo = resize_long_side(read_image(shared / "data" / "content" / "chelsea.png"), 128)
    features = model(photo[None].astype("float32"))
    height, width = photo.shape[:2]
    assert features["block1_conv1"].shape == (1, height, width, 64)
    assert features["block5_conv1"].shape[-1] == 512
    for layer in layers:
        values = np.asarray(features[layer])
        assert np.isfinite(values).all() and values.std() > 1.0 and (values > 0).mean() > 0.05
    # The first filter of ImageNet VGG16's first layer has a well-known value.
    import keras
    vgg = keras.applications.VGG16(include_top=False, weights=str(weights.resolve("vgg16-imagenet")))
    assert abs(float(vgg.get_layer("block1_conv1").kernel[0, 0, 0, 0]) - 0.42947057) < 1e-6


def test_vgg19_without_weights_offline_is_exit_4(monkeypatch):
    monkeypatch.delenv("VISIONTK_MODELS", raising=False)
    monkeypatch.setenv("VISIONTK_OFFLINE", "1")  # online, it would be downloaded on first use
    from visiontk.backbones.vgg import vgg_extractor
    with pytest.raises(WeightsError, match="models fetch vgg19-imagenet"):
        vgg_extractor("vgg19", ["block1_conv1"])


# ---- runtime --------------------------------------------------------------------------------------

def test_mirrored_strategy_on_two_logical_cpus(tmp_path):
    script = textwrap.dedent("""
        import numpy as np
        from visiontk import runtime
        runtime.configure(cpu_devices=2, seed=1)
        strategy = runtime.training_strategy("mirrored")
        import keras
        with strategy.scope():
            model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
            model.compile(optimizer="sgd", loss="mse")
        x = np.random.rand(64, 4).astype("float32"); y = x.sum(1, keepdims=True)
        before = model.evaluate(x, y, verbose=0)
        model.fit(x, y, batch_size=16, epochs=5, verbose=0)
        print(strategy.num_replicas_in_sync, before > model.evaluate(x, y, verbose=0))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[-2:] == ["2", "True"]


def test_gpu_requested_without_one_is_a_clear_error():
    from visiontk import runtime
    if runtime.tensorflow().config.list_physical_devices("GPU"):
        pytest.skip("this machine has a GPU")
    script = "from visiontk import runtime; runtime.configure(device='gpu'); runtime.tensorflow()"
    direct = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert "no GPU" in direct.stderr and "DeviceError" in direct.stderr


def test_unknown_strategy():
    from visiontk import runtime
    from visiontk.errors import VisiontkError
    with pytest.raises(VisiontkError, match="unknown strategy"):
        runtime.training_strategy("ring")


def test_non_editable_install_runs_from_another_folder(tmp_path):
    """`pip install .` then `visiontk` from elsewhere: the package and shipped models come along."""
    if not os.environ.get("CI") and not os.environ.get("VISIONTK_FULL_TESTS"):
        pytest.skip("builds a wheel; runs in CI")
    root = Path(__file__).resolve().parents[1]
    target = tmp_path / "site"
    build = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                            "--target", str(target), str(root)], capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-2000:]
    env = {**os.environ, "PYTHONPATH": str(target)}
    check = subprocess.run([sys.executable, "-c", "import visiontk, visiontk.weights as w; "
                            "print(visiontk.__file__); print(w.shipped_dir())"],
                           capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert check.returncode == 0, check.stderr
    module_file, shipped = check.stdout.split()
    assert module_file.startswith(str(target)) and shipped.startswith(str(target))
    assert (Path(shipped) / "__init__.py").is_file()
    shutil.rmtree(target)
