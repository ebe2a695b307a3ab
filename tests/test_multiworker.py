"""`--strategy multiworker` really trains one model on two processes (MultiWorkerMirroredStrategy over
127.0.0.1, described by TF_CONFIG): the workers end with the same weights, equal to one worker's with
the same global batch; only the chief writes into the run folder; a killed cluster's rerun resumes.
"""
from __future__ import annotations

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

# Runs `visiontk ARGS...` in this process and then saves the weights this worker ended with (the
# non-chief workers write nothing else), so that the test can compare them.
DRIVER = """
import sys
import numpy as np
from visiontk.sr import training
models = []
build = training.build_model
training.build_model = lambda config: models.append(build(config)) or models[-1]
from visiontk.cli.main import cli
code = cli.main(sys.argv[2:], prog_name="visiontk", standalone_mode=False)
if models:
    np.savez(sys.argv[1], *[np.asarray(w) for w in models[-1].get_weights()])
sys.exit(code)
"""


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


def start(driver: Path, weights: Path, args: list[str], env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(driver), str(weights), *args], env={**os.environ, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def start_cluster(driver: Path, tmp: Path, tag: str, args: list[str]) -> list[subprocess.Popen]:
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    return [start(driver, tmp / f"{tag}-worker{i}.npz", args,
                  {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})})
            for i in range(2)]


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
    single = start(driver, tmp_path / "single.npz",
                   sr_args(tiny_photos, tmp_path / "single", steps, "default"), {})
    # The cluster is killed (as a preempted job would be) once the chief has checkpointed...
    workers = start_cluster(driver, tmp_path, "killed", sr_args(tiny_photos, run, steps, "multiworker"))
    deadline = time.monotonic() + 240
    while not (run / "ckpt" / "checkpoint").is_file() and time.monotonic() < deadline:
        assert all(w.poll() is None for w in workers), "a worker ended before the first checkpoint"
        time.sleep(0.2)
    for worker in workers:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    stopped_at = max(int(p.name.split("-")[1].split(".")[0]) for p in (run / "ckpt").glob("ckpt-*.index"))
    assert 2 <= stopped_at < steps
    # ...and started again with the same command: it resumes from the chief's checkpoint.
    workers = start_cluster(driver, tmp_path, "resumed", sr_args(tiny_photos, run, steps, "multiworker"))
    results = [finish(w) for w in workers]
    reference = finish(single)

    assert results[0] == {**results[1], "train_seconds": results[0]["train_seconds"]}
    assert results[0]["step"] == steps and np.isfinite(results[0]["loss"])
    chief, other = load(tmp_path / "resumed-worker0.npz"), load(tmp_path / "resumed-worker1.npz")
    assert all(np.array_equal(a, b) for a, b in zip(chief, other))           # one model, not two
    alone = load(tmp_path / "single.npz")
    assert all(np.allclose(a, b, rtol=1e-4, atol=1e-5) for a, b in zip(chief, alone))
    assert reference["loss"] == pytest.approx(results[0]["loss"], rel=1e-4)
    assert reference["best_val_psnr"] == pytest.approx(results[0]["best_val_psnr"], abs=1e-3)

    # Only the chief wrote: one row per logged step, no stray files of the other worker.
    rows = (run / "log.csv").read_text().splitlines()[1:]
    assert len(rows) == len(set(rows)) and len({r.split(",")[0] + r.split(",")[1] for r in rows}) == len(rows)
    assert sorted(p.name for p in run.iterdir()) == ["best.weights.h5", "ckpt", "curves.png",
                                                     "latest.weights.h5", "log.csv", "run.json"]
    kept = {"checkpoint", *(f"ckpt-{s}.{ext}" for s in range(2, steps + 1, 2)
                            for ext in ("index", "data-00000-of-00001"))}
    assert {p.name for p in (run / "ckpt").iterdir()} <= kept
