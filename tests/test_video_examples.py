"""examples/video_*.sh run as they are (with small clips), so that they cannot rot."""
from __future__ import annotations

import json
import shutil

import pytest

from test_examples import run_example

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("jq") is None, reason="the examples use jq (apt-get install jq)")]


def test_video_folder_upscales_each_clip_once(tmp_path, shared):
    from visiontk.videoio import probe

    stdout = run_example("video_folder.sh", tmp_path, shared, FRAMES="6")
    summary = json.loads(stdout[:stdout.rindex("}") + 1])
    assert summary == {"upscaled": 2, "failed": 0, "frames": 12}
    outputs = sorted((tmp_path / "upscaled").iterdir())
    assert [p.name for p in outputs] == ["chelsea_x2.mp4", "tubingen_x2.mp4"]
    assert all((probe(p).width, probe(p).height, probe(p).frames) == (320, 240, 6) for p in outputs)
    # A second run finds everything done.
    again = run_example("video_folder.sh", tmp_path, shared, FRAMES="6")
    assert json.loads(again[:again.rindex("}") + 1]) == {"upscaled": 0, "failed": 0, "frames": 0}
