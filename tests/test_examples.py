"""Every shell pipeline in examples/ runs as it is (with small sizes), so none of them can rot."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("jq") is None, reason="the examples use jq (apt-get install jq)")]


def run_example(name: str, out: Path, shared: Path, **env: str) -> str:
    environment = {**os.environ, "SHARED": str(shared), "OUT": str(out), **env}
    result = subprocess.run(["bash", str(ROOT / "examples" / name)], cwd=ROOT, env=environment,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{name} failed:\n{result.stderr[-3000:]}"
    return result.stdout


def test_stylize_folder(tmp_path, shared):
    stdout = run_example("stylize_folder.sh", tmp_path, shared, SIZE="48", ITERATIONS="3")
    assert len(list(tmp_path.glob("*_stylized.*"))) == 5
    assert (tmp_path / "contact_sheet.jpg").stat().st_size > 1000 and "contact_sheet.jpg" in stdout
    # A second run skips everything already done.
    again = run_example("stylize_folder.sh", tmp_path, shared, SIZE="48", ITERATIONS="3")
    assert (tmp_path / "results.jsonl").read_text().strip() == "" and "contact_sheet" in again


def test_find_person(tmp_path, shared):
    stdout = run_example("find_person.sh", tmp_path, shared, PERSON="biden")
    found = {Path(line).name for line in stdout.splitlines()[1:]}
    assert {"biden_1.jpg", "biden_2.jpg", "group_obama_and_biden.jpg"} <= found
    assert not any(name.startswith(("obama_", "kit_", "rose_")) for name in found)


def test_verify_pairs(tmp_path, shared):
    stdout = run_example("verify_pairs.sh", tmp_path, shared, LIMIT="12")
    summary = json.loads(stdout[stdout.index("{"):])
    assert summary == {"pairs": 12, "correct": 12, "accuracy": 1}


def test_upscale_folder(tmp_path, shared, tmp_path_factory):
    source = tmp_path_factory.mktemp("small")
    shutil.copy(shared / "data" / "sr" / "Set5" / "bird.png", source / "bird one.png")
    shutil.copy(shared / "data" / "sr" / "Set5" / "head.png", source / "head.png")
    first = run_example("upscale_folder.sh", tmp_path, shared, SRC=str(source), SCALE="2")
    assert '"upscaled": 2' in first and (tmp_path / "bird one_x2.png").is_file()
    second = run_example("upscale_folder.sh", tmp_path, shared, SRC=str(source), SCALE="2")
    assert '"upscaled": 0' in second and "outputs now in" in second


def test_train_small_dcgan(tmp_path, shared):
    run_example("train_small_dcgan.sh", tmp_path, shared, EPOCHS="1", LIMIT="64")
    assert (tmp_path / "samples.png").stat().st_size > 1000
    assert list((tmp_path / "run").glob("*.png"))
