"""visiontk.style.temporal: flow-guided blending makes a flickering per-frame stylizer steady, measured
by the temporal warping error on a slow pan and zoom over a shared photo."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from visiontk.style import temporal


def flickering_stylizer(seed: int = 0):
    """A cheap stand-in for a style network: coarse colours plus fresh noise and a colour cast on every
    call, so that consecutive frames disagree like a per-frame stylization does."""
    rng = np.random.default_rng(seed)

    def stylize(frame: np.ndarray) -> np.ndarray:
        base = np.round(frame.astype(np.float32) / 32) * 32
        noisy = base + rng.normal(0, 12, frame.shape) + rng.normal(0, 8, 3)
        return np.clip(noisy, 0, 255).astype(np.uint8)

    return stylize


@pytest.fixture(scope="module")
def pan_clip(shared) -> list[np.ndarray]:
    photo = np.asarray(Image.open(shared / "data" / "content" / "tubingen.jpg").convert("RGB"))
    return temporal.pan_zoom_frames(photo, count=12, size=(128, 96))


def test_pan_zoom_clip_moves_slowly_and_its_flow_is_mostly_trusted(pan_clip):
    motions = temporal.clip_motions(pan_clip)
    assert len(pan_clip) == 12 and pan_clip[0].shape == (96, 128, 3)
    assert np.mean([m.valid.mean() for m in motions]) > 0.9
    # The frames differ, but the input itself warps onto itself almost exactly.
    assert np.abs(pan_clip[0].astype(int) - pan_clip[-1]).mean() > 10
    assert temporal.warping_error(pan_clip, pan_clip, motions=motions) < 0.001


def test_consistency_cuts_the_warping_error_of_a_flickering_stylizer(pan_clip):
    motions = temporal.clip_motions(pan_clip)
    stylize = flickering_stylizer()
    off = [stylize(frame) for frame in pan_clip]
    on = temporal.TemporalConsistency(flickering_stylizer()).frames(pan_clip)
    error_off = temporal.warping_error(pan_clip, off, motions=motions)
    error_on = temporal.warping_error(pan_clip, on, motions=motions)
    assert error_on < 0.6 * error_off  # the target: at least 40% lower


def test_strength_zero_is_the_stylizer_alone_and_first_frame_is_untouched(pan_clip):
    stylize = flickering_stylizer(1)
    plain = [stylize(frame) for frame in pan_clip[:3]]
    none = temporal.TemporalConsistency(flickering_stylizer(1), strength=0).frames(pan_clip[:3])
    assert all(np.array_equal(a, b) for a, b in zip(plain, none))
    strong = temporal.TemporalConsistency(flickering_stylizer(1), strength=0.8).frames(pan_clip[:3])
    assert np.array_equal(strong[0], plain[0]) and not np.array_equal(strong[1], plain[1])


def test_warp_follows_the_flow():
    image = np.zeros((20, 30, 3), np.uint8)
    image[5:10, 5:10] = 255
    flow = np.zeros((20, 30, 2), np.float32)
    flow[..., 0] = -3  # out(x) = image(x - 3): content moves 3 pixels right
    moved = temporal.warp(image, flow)
    assert moved[5:10, 8:13].min() == 255 and moved[:, :8].max() == 0


def test_mask_marks_what_a_moving_square_uncovers():
    """A square slides right over a static textured background: the strip it uncovers has no
    counterpart in the previous frame and must not be trusted; the far background must be."""
    rng = np.random.default_rng(0)
    background = (rng.random((64, 96)) * 255).astype(np.uint8)
    background = np.asarray(Image.fromarray(background).resize((96, 64), Image.BILINEAR))
    background = np.repeat(background[..., None], 3, axis=2)
    square = (rng.random((24, 24, 3)) * 255).astype(np.uint8)
    previous, current = background.copy(), background.copy()
    previous[20:44, 30:54] = square
    current[20:44, 36:60] = square
    moved = temporal.motion(previous, current)
    assert moved.valid[:, 75:].mean() > 0.9  # still background, far from the square
    assert moved.valid[24:40, 31:35].mean() < 0.5  # uncovered by the square's move


def test_stylizer_output_of_another_size_is_blended_at_its_size(pan_clip):
    stylize = flickering_stylizer(2)

    def half(frame):
        return stylize(frame)[::2, ::2]

    out = temporal.TemporalConsistency(half).frames(pan_clip[:4])
    assert all(frame.shape == (48, 64, 3) for frame in out)


def test_video_through_transform_video_flickers_less(pan_clip, tmp_path):
    pytest.importorskip("av")
    from visiontk.videoio import read_frames, transform_video, write_video

    clip = write_video(tmp_path / "pan.mp4", pan_clip, fps=12, crf=10)
    decoded = [f.rgb for f in read_frames(clip)]
    stylize = flickering_stylizer(3)
    transform_video(clip, tmp_path / "off.mp4", lambda frames: [stylize(f) for f in frames], crf=10)
    transform_video(clip, tmp_path / "on.mp4", temporal.TemporalConsistency(flickering_stylizer(3)).frames,
                    crf=10)
    motions = temporal.clip_motions(decoded)
    errors = {name: temporal.warping_error(decoded, [f.rgb for f in read_frames(tmp_path / f"{name}.mp4")],
                                           motions=motions) for name in ("off", "on")}
    assert errors["on"] < 0.6 * errors["off"]


def test_stylize_video_steadies_a_clip_and_keeps_its_sound(tmp_path):
    pytest.importorskip("av")
    from test_videoio import audio_packets, make_clip

    from visiontk.videoio import read_frames

    clip = make_clip(tmp_path / "clip.mp4", frames=12, size=(96, 64), audio=True)
    decoded = [f.rgb for f in read_frames(clip)]
    motions = temporal.clip_motions(decoded)
    errors = {}
    for consistent in (False, True):
        out = tmp_path / f"styled_{consistent}.mp4"
        record = temporal.stylize_video(clip, out, flickering_stylizer(4), consistent=consistent, crf=10)
        assert record["frames"] == 12 and record["consistency"] is consistent
        assert (record["flow_seconds"] > 0) is consistent  # no flow is computed when it is off
        assert audio_packets(out) == audio_packets(clip)
        styled = [f.rgb for f in read_frames(out)]
        errors[consistent] = temporal.warping_error(decoded, styled, motions=motions)
    assert errors[True] < 0.6 * errors[False]
