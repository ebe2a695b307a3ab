"""--shard K/N: N processes given the same inputs split them with no coordination, each input done once."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from visiontk.errors import UsageError
from visiontk.sharding import Shard, parse_shard

SLURM = {"SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "4", "SLURM_ARRAY_TASK_COUNT": "4"}


@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_shards_cover_every_input_once_whatever_the_order(count):
    items = [f"photos/{name}.jpg" for name in "qwertyuiopasd"]
    shards = [Shard(k, count).select(items) for k in range(count)]
    assert sorted(sum(shards, [])) == sorted(items)
    # Another process listing the same inputs in another order gets the same shard.
    assert [sorted(Shard(k, count).select(items[::-1])) for k in range(count)] == [sorted(s) for s in shards]
    # Round-robin over the sorted paths: sizes differ by at most one.
    assert max(map(len, shards)) - min(map(len, shards)) <= 1


def test_parse_shard_and_scheduler_indices():
    assert parse_shard("2/5") == Shard(2, 5)
    for bad in ("5/5", "-1/4", "1", "a/b", "0/0"):
        with pytest.raises(UsageError):
            parse_shard(bad)
    # SLURM --array=1-4: task 1 is shard 0; --array=0-30:10 numbers 0, 10, 20, 30 as 0..3.
    assert parse_shard("auto", {**SLURM, "SLURM_ARRAY_TASK_ID": "1"}) == Shard(0, 4)
    assert parse_shard("auto", {**SLURM, "SLURM_ARRAY_TASK_ID": "4"}) == Shard(3, 4)
    strided = {"SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_MAX": "30", "SLURM_ARRAY_TASK_STEP": "10",
               "SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_ID": "20"}
    assert parse_shard("auto", strided) == Shard(2, 4)
    with pytest.raises(UsageError, match="regular range"):  # --array=1,4,9: no unambiguous numbering
        parse_shard("auto", {"SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "9",
                             "SLURM_ARRAY_TASK_COUNT": "3", "SLURM_ARRAY_TASK_ID": "4"})
    assert parse_shard("auto", {"JOB_COMPLETION_INDEX": "3", "VISIONTK_SHARD_COUNT": "8"}) == Shard(3, 8)
    with pytest.raises(UsageError, match="VISIONTK_SHARD_COUNT"):
        parse_shard("auto", {"JOB_COMPLETION_INDEX": "3"})
    with pytest.raises(UsageError, match="give `shard` K/N"):
        parse_shard("auto", {})


@pytest.fixture(scope="module")
def tiny_photos(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for i in range(7):
        sub = folder / ("a" if i % 2 else "b")
        sub.mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (12, 10 + i, 3), dtype=np.uint8)).save(sub / f"img{i}.png")
    return folder


def _upscale(run_cli, photos: Path, out: Path, *extra: str) -> list[dict]:
    result = run_cli("sr", "upscale", photos, "--scale", "2", "--output-dir", out, "--json", *extra)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_shard_outputs_are_disjoint_and_their_union_is_the_whole_run(run_cli, tiny_photos, tmp_path,
                                                                     monkeypatch):
    whole = _upscale(run_cli, tiny_photos, tmp_path / "whole")
    expected = {p.name: p.read_bytes() for p in (tmp_path / "whole").iterdir()}
    assert len(whole) == len(expected) == 7

    records, union = [], {}
    for k in range(3):
        # The second shard through the environment, as a scheduler's job template would set it.
        if k == 1:
            monkeypatch.setenv("VISIONTK_SHARD", "1/3")
        option = () if k == 1 else ("--shard", f"{k}/3")
        records += _upscale(run_cli, tiny_photos, tmp_path / f"shard{k}", *option)
        monkeypatch.delenv("VISIONTK_SHARD", raising=False)
        names = {p.name: p.read_bytes() for p in (tmp_path / f"shard{k}").iterdir()}
        assert names and not names.keys() & union.keys()
        union.update(names)
    assert union == expected
    assert sorted(r["input"] for r in records) == sorted(r["input"] for r in whole)


def test_rerun_of_a_shard_with_skip_existing_does_only_the_missing(run_cli, tiny_photos, tmp_path):
    first = _upscale(run_cli, tiny_photos, tmp_path, "--shard", "0/2", "--skip-existing")
    assert len(first) == 4
    (tmp_path / Path(first[1]["output"]).name).unlink()      # as if killed before that one
    again = _upscale(run_cli, tiny_photos, tmp_path, "--shard", "0/2", "--skip-existing")
    assert [r["input"] for r in again] == [first[1]["input"]]


def test_a_shard_with_nothing_to_do_succeeds_and_bad_shards_are_usage_errors(run_cli, tiny_photos, tmp_path):
    one = tiny_photos / "a" / "img1.png"
    result = run_cli("sr", "upscale", one, "--scale", "2", "--output-dir", tmp_path, "--shard", "1/2",
                     "--json")
    assert result.exit_code == 0 and result.stdout == "" and not any(tmp_path.iterdir())
    result = run_cli("sr", "upscale", one, "--scale", "2", "--output-dir", tmp_path, "--shard", "2/2")
    assert result.exit_code == 2 and "0 to N-1" in result.output


@pytest.mark.slow
def test_face_detect_shards_report_each_photo_once(run_cli, shared):
    faces = shared / "data" / "faces"
    photos = sorted(faces.glob("obama_[1-4].jpg")) + sorted(faces.glob("biden_*.jpg"))
    whole = run_cli("face", "detect", *photos, "--json")
    lines = {}
    for k in range(2):
        part = run_cli("face", "detect", *photos, "--json", "--shard", f"{k}/2")
        assert part.exit_code == 0
        for line in part.stdout.splitlines():
            record = json.loads(line)
            assert record["input"] not in lines
            lines[record["input"]] = record
    assert lines == {json.loads(line)["input"]: json.loads(line) for line in whole.stdout.splitlines()}


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("jq") is None, reason="the example uses jq (apt-get install jq)")
def test_sharded_upscale_example(tiny_photos, tmp_path):
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "SRC": str(tiny_photos), "OUT": str(tmp_path), "SHARDS": "3"}
    result = subprocess.run(["bash", "examples/sharded_upscale.sh"], cwd=root, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout) == {"upscaled": 7, "failed": 0, "inputs_done_twice": 0}
    assert len(list(tmp_path.glob("*_x2.png"))) == 7
