"""`visiontk sr upscale` on video clips: frame by frame, with the clip's timing and sound kept."""
from __future__ import annotations

import json

import pytest

from test_sr import tiny_weights  # noqa: F401 (a fixture: random-weight EDSRs)
from test_videoio import audio_packets, frame_times, make_clip, no_leftovers

pytest.importorskip("av")


@pytest.fixture(scope="module")
def tiny_x2(tiny_weights):
    return tiny_weights[2]


def test_upscale_clip_keeps_frames_rate_timing_and_sound(run_cli, tmp_path, tiny_x2):
    from visiontk.videoio import probe

    clip = make_clip(tmp_path / "clip.mp4", frames=12, size=(64, 48), audio=True)
    out = tmp_path / "big.mp4"
    result = run_cli("sr", "upscale", clip, "--model", tiny_x2, "-o", out, "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["ok"] and record["output"] == str(out) and record["output_size"] == [128, 96]
    info = probe(out)
    assert (info.width, info.height, info.frames, info.fps) == (128, 96, 12, 24)
    assert frame_times(out) == frame_times(clip)
    assert audio_packets(out) == audio_packets(clip) != []


def test_folder_of_clips_by_stdin_names_outputs_and_skips_existing(run_cli, tmp_path, tiny_x2):
    clips = [make_clip(tmp_path / "a.mkv", frames=6, audio=False),
             make_clip(tmp_path / "b.mov", frames=6, audio=False)]
    outputs = tmp_path / "out"
    listing = "".join(f"{c}\n" for c in clips)
    first = run_cli("sr", "upscale", "-", "--model", tiny_x2, "--output-dir", outputs, "--skip-existing",
                    "--json", input=listing)
    assert first.exit_code == 0, first.output
    assert sorted(p.name for p in outputs.iterdir()) == ["a_x2.mkv", "b_x2.mov"]
    again = run_cli("sr", "upscale", "-", "--model", tiny_x2, "--output-dir", outputs, "--skip-existing",
                    "--json", input=listing)
    assert again.exit_code == 0 and again.stdout == ""


def test_truncated_clip_is_exit_3_with_one_line_and_no_output(run_cli, tmp_path, tiny_x2):
    whole = make_clip(tmp_path / "whole.mkv", frames=30, audio=False)
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(whole.read_bytes()[:whole.stat().st_size // 2])
    out = tmp_path / "cut_big.mp4"
    result = run_cli("sr", "upscale", cut, "--model", tiny_x2, "-o", out)
    assert result.exit_code == 3
    assert result.stderr.count("\n") == 1 and "truncated" in result.stderr
    assert not out.exists() and no_leftovers(tmp_path) == []


@pytest.mark.parametrize("sizing, expected", [(("--outscale", "1.5"), (96, 72)),
                                              (("--width", "100"), (100, 74))])
def test_outscale_and_width_apply_to_clips(run_cli, tmp_path, tiny_x2, sizing, expected):
    """Any size up to the model's scale, as for photos (an odd height loses its last row for H.264)."""
    from visiontk.videoio import probe

    clip = make_clip(tmp_path / "clip.mp4", frames=4, size=(64, 48), audio=False)
    out = tmp_path / "sized.mp4"
    result = run_cli("sr", "upscale", clip, "--model", tiny_x2, *sizing, "-o", out, "--json")
    assert result.exit_code == 0, result.output
    assert (probe(out).width, probe(out).height, probe(out).frames) == (*expected, 4)


def test_width_of_a_rotated_clip_is_its_width_on_screen(run_cli, tmp_path, tiny_x2):
    from visiontk.videoio import probe

    clip = make_clip(tmp_path / "phone.mp4", frames=4, size=(64, 48), rotation=90, audio=False)
    out = tmp_path / "phone_big.mp4"
    result = run_cli("sr", "upscale", clip, "--model", tiny_x2, "--width", "72", "-o", out)
    assert result.exit_code == 0, result.output
    info = probe(out)
    assert info.rotation == 90 and info.display_size == (72, 96)
