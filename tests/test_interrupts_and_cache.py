"""Unattended batches: SIGTERM stops after the current item with exit 130 and no partial file; two
processes preparing the same weights at once convert them once and never corrupt the cache."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.slow


def test_sigterm_stops_a_batch_after_the_current_item(tmp_path):
    source, out = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    rng = np.random.default_rng(0)
    for i in range(30):
        Image.fromarray(rng.integers(0, 255, (96, 96, 3), np.uint8)).save(source / f"{i:02d}.png")
    process = subprocess.Popen([sys.executable, "-m", "visiontk", "-q", "sr", "upscale", str(source),
                                "--scale", "2", "--output-dir", str(out)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    while time.time() < deadline and not (out.is_dir() and any(out.glob("*_x2.png"))):
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=240)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    done = sorted(out.iterdir())
    assert 1 <= len(done) < 30 and not [p for p in done if ".part" in p.name]
    for path in done:  # every file there is complete
        assert Image.open(path).size == (192, 192)


def test_two_processes_convert_the_same_weights_once(tmp_path):
    source = tmp_path / "source.bin"
    source.write_bytes(os.urandom(4096))
    log = tmp_path / "conversions.log"
    script = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from visiontk import weights

        def convert(src, dst):
            with open({str(log)!r}, "a") as handle:
                handle.write("converted\\n")
            time.sleep(1.0)  # a slow conversion, so the two processes overlap
            Path(dst).write_bytes(Path(src).read_bytes()[::-1])

        print(weights.converted("toy-conversion", Path({str(source)!r}), convert, suffix=".bin"))
    """)
    env = {**os.environ, "VISIONTK_CACHE": str(tmp_path / "cache")}
    processes = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in processes]
    assert all(p.returncode == 0 for p in processes), outputs
    paths = {stdout.strip() for stdout, _ in outputs}
    assert len(paths) == 1
    assert Path(paths.pop()).read_bytes() == source.read_bytes()[::-1]
    assert log.read_text().count("converted") == 1
