"""`--strategy multiworker` really trains one model on two processes (MultiWorkerMirroredStrategy over
127.0.0.1, described by TF_CONFIG): the workers end with the same weights, equal to one worker's with
the same global batch; only the chief writes into the run folder; a killed cluster's rerun resumes.
"""
from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.slow

# `driver.py WEIGHTS MODULE:BUILDER ARGS...` runs `visiontk ARGS...` in this process, keeping the last
# network MODULE.BUILDER built, and then saves the weights this worker ended with (the non-chief
# workers write nothing else), so that the test can compare them.
DRIVER = """
import importlib, sys
import numpy as np
module, name = sys.argv[2].split(":")
module = importlib.import_module(module)
build, models = getattr(module, name), []
setattr(module, name, lambda *args, **kwargs: models.append(build(*args, **kwargs)) or models[-1])
from visiontk.cli.main import cli
code = cli.main(sys.argv[3:], prog_name="visiontk", standalone_mode=False)
if models:
    np.savez(sys.argv[1], *[np.asarray(w) for w in models[-1].get_weights()])
sys.exit(code)
"""
SR_MODEL = "visiontk.sr.training:build_model"
GAN_GENERATOR = "visiontk.backbones.dcgan:dcgan_generator"


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.fixture(scope="module")
def tiny_photos(tmp_path_factory, shared) -> Path:
    """Ten 40x40 crops of Set5: enough for 8x8 patches, quick to train on."""
    folder = tmp_path_factory.mktemp("sr-photos")
    for k, path in enumerate(sorted((shared / "data" / "sr" / "Set5").glob("*.png"))):
        rgb = np.asarray(Image.open(path).convert("RGB"))
        for j in range(2):
            Image.fromarray(rgb[j * 40:j * 40 + 40, 40:80]).save(folder / f"crop{k}{j}.png")
    return folder


def sr_args(photos: Path, out: Path, steps: int, strategy: str) -> list[str]:
    return ["sr", "train", str(photos), "--scale", "2", "--out", str(out), "--steps", str(steps),
            "--batch", "4", "--patch", "8", "--val-images", "1", "--val-every", "2",
            "--checkpoint-every", "2", "--blocks", "1", "--features", "8", "--strategy", strategy, "--json"]


def start(driver: Path, weights: Path, builder: str, args: list[str], env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(driver), str(weights), builder, *args],
                            env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def start_cluster(driver: Path, tmp: Path, tag: str, builder: str, args: list[str]) -> list[subprocess.Popen]:
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    return [start(driver, tmp / f"{tag}-worker{i}.npz", builder, args,
                  {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})})
            for i in range(2)]


def kill_after(workers: list[subprocess.Popen], written: Path) -> None:
    """SIGKILL the whole cluster (as a preempted job would be) once the chief has written `written`."""
    deadline = time.monotonic() + 240
    while not written.is_file() and time.monotonic() < deadline:
        assert all(w.poll() is None for w in workers), "a worker ended before the first checkpoint"
        time.sleep(0.1)
    for worker in workers:
        worker.send_signal(signal.SIGKILL)
        worker.wait()


def finish(process: subprocess.Popen, timeout: float = 240) -> dict:
    stdout, stderr = process.communicate(timeout=timeout)
    assert process.returncode == 0, stderr[-3000:]
    return json.loads(stdout.strip().splitlines()[-1])


def load(path: Path) -> list[np.ndarray]:
    with np.load(path) as saved:
        return [saved[f"arr_{i}"] for i in range(len(saved.files))]


def test_sr_train_on_two_workers(tiny_photos, tmp_path):
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    run, steps = tmp_path / "run", 12
    # One worker with the same global batch, for reference, while the cluster runs.
    single = start(driver, tmp_path / "single.npz", SR_MODEL,
                   sr_args(tiny_photos, tmp_path / "single", steps, "default"), {})
    # The cluster is killed once the chief has checkpointed...
    workers = start_cluster(driver, tmp_path, "killed", SR_MODEL,
                            sr_args(tiny_photos, run, steps, "multiworker"))
    kill_after(workers, run / "checkpoints" / "checkpoint")
    stopped_at = max(int(p.name.split("-")[1].split(".")[0]) for p in (run / "checkpoints").glob("ckpt-*.index"))
    assert 2 <= stopped_at < steps
    # ...and started again with the same command: it resumes from the chief's checkpoint.
    workers = start_cluster(driver, tmp_path, "resumed", SR_MODEL,
                            sr_args(tiny_photos, run, steps, "multiworker"))
    results = [finish(w) for w in workers]
    reference = finish(single)

    assert results[0] == {**results[1], "seconds": results[0]["seconds"]}
    assert results[0]["step"] == steps and np.isfinite(results[0]["loss"])
    chief, other = load(tmp_path / "resumed-worker0.npz"), load(tmp_path / "resumed-worker1.npz")
    assert all(np.array_equal(a, b) for a, b in zip(chief, other))           # one model, not two
    alone = load(tmp_path / "single.npz")
    assert all(np.allclose(a, b, rtol=1e-4, atol=1e-5) for a, b in zip(chief, alone))
    assert reference["loss"] == pytest.approx(results[0]["loss"], rel=1e-4)
    assert reference["val_psnr"] == pytest.approx(results[0]["val_psnr"], abs=1e-3)

    # Only the chief wrote: one row per logged step, no stray files of the other worker.
    steps_logged = [int(r.split(",")[0]) for r in (run / "metrics.csv").read_text().splitlines()[1:]]
    assert steps_logged == list(range(2, steps + 1, 2))
    assert sorted(p.name for p in run.iterdir()) == ["best.weights.h5", "checkpoints", "config.json",
                                                     "curves.png", "metrics.csv"]
    kept = {"checkpoint", *(f"ckpt-{s}.{ext}" for s in range(2, steps + 1, 2)
                            for ext in ("index", "data-00000-of-00001"))}
    assert {p.name for p in (run / "checkpoints").iterdir()} <= kept


def gan_args(photos: Path, out: Path, epochs: int, strategy: str) -> list[str]:
    return ["--seed", "1", "gan", "train", str(photos), "--out", str(out), "--image-size", "28",
            "--batch-size", "4", "--filters", "8", "--epochs", str(epochs), "--log-every", "1",
            "--strategy", strategy, "--json"]


def test_gan_train_on_two_workers(tiny_photos, tmp_path):
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    run, epochs = tmp_path / "run", 12
    steps = 2 * epochs        # 10 photos, global batch 4: 2 steps per epoch
    single = start(driver, tmp_path / "single.npz", GAN_GENERATOR,
                   gan_args(tiny_photos, tmp_path / "single", epochs, "default"), {})
    workers = start_cluster(driver, tmp_path, "killed", GAN_GENERATOR,
                            gan_args(tiny_photos, run, epochs, "multiworker"))
    kill_after(workers, run / "checkpoints" / "checkpoint")
    saved = [int(p.name.split("-")[1].split(".")[0]) for p in (run / "checkpoints").glob("ckpt-*.index")]
    assert 2 <= max(saved) < steps        # killed part-way
    # The same command again (here in its older form, --resume RUN) resumes from the chief's checkpoint.
    resume = ["--seed", "1", "gan", "train", "--resume", str(run), "--json"]
    workers = start_cluster(driver, tmp_path, "resumed", GAN_GENERATOR, resume)
    finish(single)
    results = [finish(w) for w in workers]
    assert results[0]["step"] == results[1]["step"] == steps
    assert results[0]["d_loss"] == results[1]["d_loss"] and np.isfinite(results[0]["d_loss"])

    chief, other = load(tmp_path / "resumed-worker0.npz"), load(tmp_path / "resumed-worker1.npz")
    assert all(np.array_equal(a, b) for a, b in zip(chief, other))
    # Synchronized batch norm: two replicas of 2 images train what one replica of 4 does.
    alone = load(tmp_path / "single.npz")
    assert all(np.allclose(a, b, rtol=1e-3, atol=1e-4) for a, b in zip(chief, alone))
    # Only the chief wrote: each step's row once, the run's files and nothing else.
    rows = (run / "metrics.csv").read_text().splitlines()[1:]
    assert [int(r.split(",")[0]) for r in rows] == list(range(1, steps + 1))
    assert sorted(p.name for p in run.iterdir()) == ["checkpoints", "config.json", "curves.png", "metrics.csv",
                                                     "samples"]
    assert json.loads((run / "config.json").read_text())["strategy"] == "multiworker"


def test_face_train_refuses_multiworker_before_any_work(run_cli, tmp_path):
    # Keras 3's Model.fit fails under MultiWorkerMirroredStrategy (keras-team/keras#20585): say so at once
    # rather than after detecting every face of DATA_DIR.
    result = run_cli("face", "train", tmp_path, "-o", tmp_path / "m.keras", "--strategy", "multiworker")
    assert result.exit_code == 2 and "keras-team/keras#20585" in result.output
    assert list(tmp_path.iterdir()) == []


def test_only_the_chief_writes_the_run_settings(tmp_path, monkeypatch):
    from visiontk import training

    @dataclasses.dataclass
    class Settings:
        epochs: int = 2
        strategy: str = "multiworker"

    run = tmp_path / "run"
    monkeypatch.setattr(training, "is_chief", lambda strategy: False)
    assert training.prepare_run(run, Settings(), task="toy") == (Settings(), False)
    assert not run.exists()          # a new run: the chief creates it
    monkeypatch.setattr(training, "is_chief", lambda strategy: True)
    training.prepare_run(run, Settings(), task="toy")
    stored = (run / "config.json").read_text()
    monkeypatch.setattr(training, "is_chief", lambda strategy: False)
    longer = Settings(epochs=5)
    assert training.prepare_run(run, longer, task="toy", given=["epochs"], changeable=["epochs"]) == (longer, True)
    assert (run / "config.json").read_text() == stored
