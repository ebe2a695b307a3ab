"""`visiontk face detect|identify` on video clips: per-frame lines, a drawn clip, who appears when."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from test_videoio import audio_packets, make_clip

av = pytest.importorskip("av")

FPS = 6


def face_crop(path, size=(160, 120)) -> np.ndarray:
    """A photo scaled so that its face is 30-60 pixels wide, cropped around the face's likely spot."""
    image = Image.open(path).convert("RGB")
    scale = 360 / max(image.size)
    image = image.resize((round(image.width * scale), round(image.height * scale)))
    left = max(0, (image.width - size[0]) // 2)
    return np.asarray(image)[:size[1], left:left + size[0]]


def photo_clip(path, segments: list[np.ndarray | None], frames_each: int = 6):
    """Each segment shows a still (None: a plain gradient without faces) for `frames_each` frames."""
    blank = np.linspace(40, 200, 160, dtype=np.uint8)[None, :, None].repeat(120, 0).repeat(3, 2)
    container = av.open(str(path), "w")
    video = container.add_stream("libx264", rate=FPS)
    video.width, video.height, video.pix_fmt = 160, 120, "yuv420p"
    for still in segments:
        for _ in range(frames_each):
            pixels = np.ascontiguousarray(blank if still is None else still)
            container.mux(video.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
    container.mux(video.encode(None))
    container.close()
    return path


def lines(result) -> list[dict]:
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_detect_reports_analysed_frames_draws_a_clip_and_sums_up(run_cli, tmp_path, shared):
    from visiontk.videoio import probe

    clip = photo_clip(tmp_path / "clip.mp4", [face_crop(shared / "data/faces/obama_5.jpg"), None])
    drawn = tmp_path / "drawn.mp4"
    result = run_cli("face", "detect", clip, "--every", "2", "--draw", drawn, "--json")
    assert result.exit_code == 0, result.output
    *frames, summary = lines(result)
    assert [r["frame"] for r in frames] == [0, 2, 4, 6, 8, 10]
    assert all(r["input"] == str(clip) and r["ok"] for r in frames)
    assert [len(r["faces"]) for r in frames] == [1, 1, 1, 0, 0, 0]
    assert frames[1]["time"] == pytest.approx(2 / FPS, abs=1e-3)
    assert summary["frames"] == 12 and summary["analysed"] == 6
    # Faces from 0 s until the first analysed frame without one (frame 6 = 1.0 s).
    assert summary["appearances"] == {"face": [[0.0, 1.0]]}
    assert (probe(drawn).width, probe(drawn).height, probe(drawn).frames) == (160, 120, 12)
    # The drawn clip differs from the source where the face was boxed, and only while it was there.
    from visiontk.videoio import read_frames
    source = [f.rgb.astype(int) for f in read_frames(clip)]
    boxed = [f.rgb.astype(int) for f in read_frames(drawn)]
    changed = [np.abs(a - b).max() > 100 for a, b in zip(source, boxed)]
    assert changed == [True] * 6 + [False] * 6


def test_drawn_clip_keeps_the_sound(run_cli, tmp_path):
    clip = make_clip(tmp_path / "talk.mp4", frames=8, audio=True)
    drawn = tmp_path / "talk_faces.mp4"
    result = run_cli("face", "detect", clip, "--every", "4", "--draw", drawn)
    assert result.exit_code == 0, result.output
    assert "no faces" in result.stdout
    assert audio_packets(drawn) == audio_packets(clip) != []


def test_identify_names_who_appears_when(run_cli, tmp_path, shared):
    from visiontk.face import Gallery, embed, load_model

    faces = shared / "data" / "faces"
    model = load_model()
    gallery = Gallery(model.name)
    for name, photo in [("obama", "obama_1.jpg"), ("biden", "biden_2.jpg")]:
        gallery.add(name, embed(faces / photo, model=model).embedding)
    gallery.save(tmp_path / "people.npz")
    clip = photo_clip(tmp_path / "both.mp4", [face_crop(faces / "obama_5.jpg"), None,
                                              face_crop(faces / "biden_1.jpg")])
    result = run_cli("face", "identify", "--gallery", tmp_path / "people.npz", clip, "--every", "3", "--json")
    assert result.exit_code == 0, result.output
    *frames, summary = lines(result)
    assert [[f["name"] for f in r["faces"]] for r in frames] == [["obama"]] * 2 + [[]] * 2 + [["biden"]] * 2
    assert summary["appearances"] == {"obama": [[0.0, 1.0]], "biden": [[2.0, 3.0]]}
    text = run_cli("face", "identify", "--gallery", tmp_path / "people.npz", clip, "--every", "3")
    assert "obama: 0.0-1.0 s" in text.stdout and "biden: 2.0-3.0 s" in text.stdout


def test_timeline_bridges_short_gaps_and_stops_at_the_clip_end():
    from visiontk.face.video import Timeline

    timeline = Timeline()
    seen = {0.0: ["a"], 0.5: ["a"], 1.0: [], 1.5: ["a", "b"], 2.0: [], 2.5: [], 3.0: ["a"]}
    for time, names in seen.items():
        timeline.tick(time)
        timeline.add(time, names)
    # One missed sample (1.0 s) is bridged; two (2.0 and 2.5 s) split; the last sighting ends at the
    # clip's end (3.0 s + one 0.1 s frame), not a whole step later.
    assert timeline.intervals(0.5, 0.1) == {"a": [[0.0, 2.0], [3.0, 3.1]], "b": [[1.5, 2.0]]}


def test_broken_clip_is_exit_3_with_one_line_and_no_drawn_clip(run_cli, tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(300))
    drawn = tmp_path / "drawn.mp4"
    result = run_cli("face", "detect", broken, "--draw", drawn, "--json")
    assert result.exit_code == 3
    assert result.stderr.count("\n") == 1 and str(broken) in result.stderr
    assert not drawn.exists() and [p.name for p in tmp_path.iterdir()] == ["broken.mp4"]


def moving_face_clip(path, still: np.ndarray, frames: int = 10, step: int = 9):
    """A face (a crop of a real photo) sliding right by `step` pixels a frame across a 240x150 backdrop."""
    backdrop = np.linspace(60, 190, 240, dtype=np.uint8)[None, :, None].repeat(150, 0).repeat(3, 2)
    container = av.open(str(path), "w")
    video = container.add_stream("libx264", rate=FPS)
    video.width, video.height, video.pix_fmt = 240, 150, "yuv420p"
    for k in range(frames):
        pixels = backdrop.copy()
        pixels[10:10 + still.shape[0], 4 + step * k:4 + step * k + still.shape[1]] = still
        container.mux(video.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
    container.mux(video.encode(None))
    container.close()
    return path


def test_following_a_moving_face_gives_the_whole_frame_search_faces(tmp_path, shared, run_cli):
    """Between whole-frame searches the face is followed in the region around its last box: its box
    moves with it (about 9 pixels a frame) and matches the box a whole-frame search finds."""
    from visiontk.face import Gallery, embed, load_model
    from visiontk.face.video import FaceTracker, detect_video, identify_video

    faces = shared / "data" / "faces"
    clip = moving_face_clip(tmp_path / "moving.mp4", face_crop(faces / "obama_5.jpg", size=(120, 120)))
    followed, searched = [], []
    detect_video(clip, full_every=4, on_frame=lambda r: followed.append(r["faces"]))
    detect_video(clip, full_every=1, on_frame=lambda r: searched.append(r["faces"]))
    assert [len(f) for f in followed] == [len(f) for f in searched] == [1] * 10
    centres = np.array([[(f[0]["box"][0] + f[0]["box"][2]) / 2 for f in frames] for frames in (followed, searched)])
    assert np.abs(centres[0] - centres[1]).max() < 4             # the same place as a full search
    assert np.diff(centres[0]) == pytest.approx([9] * 9, abs=3)    # and it moves with the face

    result = run_cli("face", "detect", clip, "--search-every", "3", "--json")
    assert result.exit_code == 0, result.output
    assert [len(r["faces"]) for r in lines(result)[:-1]] == [1] * 10

    tracker = FaceTracker(full_every=3)
    blank = np.full((150, 240, 3), 128, np.uint8)
    assert tracker.faces(blank) == ([], []) and tracker.faces(blank) == ([], [])   # nothing to follow

    model = load_model()
    gallery = Gallery(model.name)
    gallery.add("obama", embed(faces / "obama_1.jpg", model=model).embedding)
    named = []
    identify_video(clip, gallery, model, full_every=5, on_frame=lambda r: named.append(r["faces"]))
    assert [[f["name"] for f in r] for r in named] == [["obama"]] * 10
