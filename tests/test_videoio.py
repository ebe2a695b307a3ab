"""visiontk.videoio: clips made here with PyAV go through transform_video and keep what viewers notice
(frame count, size, frame rate and timestamps, rotation, sound); broken clips fail cleanly."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from visiontk.errors import BadInputError

av = pytest.importorskip("av")


def make_clip(path: Path, *, frames: int = 24, size: tuple[int, int] = (96, 64), fps: int = 24,
              audio: bool = True, rotation: int = 0, pts: list[int] | None = None,
              time_base: Fraction | None = None, codec: str = "libx264", audio_codec: str = "aac",
              pixel_aspect: Fraction | None = None, tags: dict | None = None) -> Path:
    """A small clip: a bright square sliding over a gradient, and (optionally) a 440 Hz tone."""
    width, height = size
    container = av.open(str(path), "w")
    container.metadata.update(tags or {})
    video = container.add_stream(codec, rate=fps)
    video.width, video.height, video.pix_fmt = width, height, "yuv420p"
    if time_base is not None:
        video.time_base = video.codec_context.time_base = time_base
    if rotation:
        video.set_display_rotation(rotation)
    if pixel_aspect is not None:
        video.codec_context.sample_aspect_ratio = pixel_aspect
    sound = None
    if audio:
        sound = container.add_stream(audio_codec, rate=16000)
        sound.layout = "mono"
    gradient = np.linspace(0, 160, width, dtype=np.float32)[None, :, None].repeat(height, 0).repeat(3, 2)
    for i in range(frames):
        rgb = gradient.copy()
        x = (i * 3) % max(1, width - 16)
        rgb[8:24, x:x + 16] = (250, 200, 40)
        frame = av.VideoFrame.from_ndarray(rgb.astype(np.uint8), format="rgb24")
        if pts is not None:
            frame.pts = pts[i]
        container.mux(video.encode(frame))
    container.mux(video.encode(None))
    if sound is not None:
        samples = round(frames / fps * 16000)
        tone = (0.3 * np.sin(np.arange(samples) / 16000 * 2 * np.pi * 440)).astype(np.float32)
        for start in range(0, samples, 1024):
            chunk = av.AudioFrame.from_ndarray(tone[None, start:start + 1024], format="fltp", layout="mono")
            chunk.sample_rate, chunk.pts = 16000, start
            container.mux(sound.encode(chunk))
        container.mux(sound.encode(None))
    container.close()
    return path


def audio_packets(path: Path) -> list[tuple[int, bytes]]:
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return []
        stream = container.streams.audio[0]
        return [(packet.pts, bytes(packet)) for packet in container.demux(stream) if packet.dts is not None]


def frame_times(path: Path) -> list[float]:
    with av.open(str(path)) as container:
        return [round(float(frame.time), 4) for frame in container.decode(video=0)]


@pytest.fixture
def clip(tmp_path) -> Path:
    return make_clip(tmp_path / "clip.mp4", frames=30, size=(96, 64), fps=24, audio=True)


def no_leftovers(folder: Path) -> list[str]:
    """Temporary files atomic_output would leave if it failed to clean up."""
    return sorted(p.name for p in folder.iterdir() if ".part" in p.name)


def test_transform_keeps_frames_size_rate_timing_and_sound(clip, tmp_path):
    from visiontk.videoio import probe, read_frames, transform_video

    out = tmp_path / "out.mp4"
    seen = []
    record = transform_video(clip, out, lambda frames: [255 - f for f in frames], batch=4,
                             on_frame=lambda f: seen.append(f.index))
    info = probe(out)
    assert (info.width, info.height, info.frames) == (96, 64, 30)
    assert info.fps == 24 and info.codec == "h264" and info.audio == "aac"
    assert seen == list(range(30)) and record["frames"] == 30
    assert frame_times(out) == frame_times(clip)
    # The sound is copied packet for packet, not re-encoded.
    assert audio_packets(out) == audio_packets(clip) and record["audio_packets"] == len(audio_packets(clip))
    assert record["audio_copied"] is True
    # The frame function's result is what got written (inverted pixels), up to compression.
    source = next(read_frames(clip)).rgb.astype(int)
    result = next(read_frames(out)).rgb.astype(int)
    assert np.abs((255 - source) - result).mean() < 3


@pytest.mark.parametrize("source_audio, output, expected", [("pcm_s16le", ".mp4", "aac"),
                                                              ("aac", ".webm", "opus")])
def test_audio_a_container_cannot_hold_is_re_encoded(tmp_path, source_audio, output, expected):
    from visiontk.videoio import probe, transform_video

    clip = make_clip(tmp_path / "source.mkv", frames=24, audio_codec=source_audio)
    out = tmp_path / f"out{output}"
    record = transform_video(clip, out, lambda frames: frames)
    assert record["audio"] == source_audio and record["audio_copied"] is False
    assert probe(out).audio == expected
    with av.open(str(out)) as container:
        samples = sum(frame.samples for frame in container.decode(audio=0))
        rate = container.streams.audio[0].rate
    assert samples / rate == pytest.approx(1.0, abs=0.05)  # the whole second of sound


def test_clip_tags_are_kept_and_mp4_index_comes_first(tmp_path):
    """A phone's date, place and title describe the clip, not the file: they survive; and an MP4 is
    written with its index at the front, so that a browser can start playing before the end arrives."""
    from visiontk.videoio import transform_video

    tags = {"title": "birthday", "creation_time": "2024-05-01T12:00:00.000000Z"}
    clip = make_clip(tmp_path / "tagged.mp4", frames=6, audio=False, tags=tags)
    out = tmp_path / "out.mp4"
    transform_video(clip, out, lambda frames: frames)
    with av.open(str(out)) as container:
        assert {k: container.metadata.get(k) for k in tags} == tags
    head = out.read_bytes()[:4096]
    assert 0 <= head.find(b"moov") < head.find(b"mdat") or b"mdat" not in head


def test_silent_clip_stays_silent_and_size_can_change(tmp_path):
    from visiontk.videoio import probe, transform_video

    silent = make_clip(tmp_path / "silent.mkv", frames=12, audio=False)
    out = tmp_path / "big.mkv"
    record = transform_video(silent, out, lambda frames: [f.repeat(2, 0).repeat(2, 1) for f in frames])
    info = probe(out)
    assert info.audio is None and record["audio"] is None
    assert (info.width, info.height) == (192, 128) and record["output_size"] == [192, 128]
    assert len(frame_times(out)) == 12


def test_variable_frame_rate_timestamps_survive(tmp_path):
    from visiontk.videoio import transform_video

    # 10 frames with irregular gaps (a phone dropping frames), in a 1/1000 s time base.
    pts = [0, 40, 80, 160, 200, 320, 360, 400, 520, 560]
    source = make_clip(tmp_path / "vfr.mp4", frames=10, pts=pts, time_base=Fraction(1, 1000), audio=False)
    out = tmp_path / "vfr_out.mp4"
    transform_video(source, out, lambda frames: frames)
    assert frame_times(out) == frame_times(source) == [p / 1000 for p in pts]


def test_rotation_is_kept_or_applied(tmp_path):
    from visiontk.videoio import probe, read_frames, transform_video

    source = make_clip(tmp_path / "phone.mp4", frames=6, size=(96, 64), rotation=90, audio=False)
    info = probe(source)
    assert info.rotation == 90 and info.display_size == (64, 96)
    kept = tmp_path / "kept.mp4"
    transform_video(source, kept, lambda frames: frames)
    assert probe(kept).rotation == 90 and (probe(kept).width, probe(kept).height) == (96, 64)
    # Upright: the function sees frames as a player shows them, and the output needs no rotation tag.
    shapes = []
    turned = tmp_path / "turned.mp4"
    transform_video(source, turned, lambda frames: shapes.extend(f.shape for f in frames) or frames,
                    upright_frames=True)
    assert set(shapes) == {(96, 64, 3)}
    assert probe(turned).rotation == 0 and (probe(turned).width, probe(turned).height) == (64, 96)
    # Rotated 90 degrees counter-clockwise: the stored top row becomes the displayed left column.
    stored = next(read_frames(source, upright_frames=False)).rgb.astype(int)
    shown = next(read_frames(turned)).rgb.astype(int)
    assert np.abs(np.rot90(stored) - shown).mean() < 3


def test_non_square_pixels_keep_their_shape(tmp_path):
    """A DVD-style clip (4:3 pixels) keeps its pixel shape, so it still shows at 16:9."""
    from visiontk.videoio import probe, transform_video

    source = make_clip(tmp_path / "dvd.mp4", frames=4, pixel_aspect=Fraction(4, 3), audio=False)
    assert probe(source).pixel_aspect == Fraction(4, 3)
    out = tmp_path / "out.mp4"
    transform_video(source, out, lambda frames: frames)
    assert probe(out).pixel_aspect == Fraction(4, 3)


def test_odd_sizes_lose_one_row_or_column(tmp_path, clip):
    from visiontk.videoio import probe, transform_video

    out = tmp_path / "odd.mp4"
    transform_video(clip, out, lambda frames: [f[:63, :95] for f in frames])
    assert (probe(out).width, probe(out).height) == (94, 62)


def test_lower_crf_means_a_bigger_file(clip, tmp_path):
    from visiontk.videoio import transform_video

    noisy = np.random.default_rng(0).integers(0, 40, (64, 96, 3))

    def add_noise(frames):
        return [np.clip(f.astype(int) + noisy, 0, 255).astype(np.uint8) for f in frames]

    transform_video(clip, tmp_path / "fine.mp4", add_noise, crf=10)
    transform_video(clip, tmp_path / "coarse.mp4", add_noise, crf=40)
    assert (tmp_path / "fine.mp4").stat().st_size > 1.5 * (tmp_path / "coarse.mp4").stat().st_size


@pytest.mark.parametrize("damage", ["truncated_mp4", "truncated_mkv", "junk", "empty"])
def test_broken_clip_is_bad_input_and_leaves_no_output(tmp_path, damage):
    from visiontk.videoio import transform_video

    if damage == "junk":
        broken = tmp_path / "junk.mp4"
        broken.write_bytes(b"not a video at all " * 50)
    elif damage == "empty":
        broken = tmp_path / "empty.mov"
        broken.write_bytes(b"")
    else:
        # Matroska keeps its header at the start: cut in half it still opens, then ends early.
        suffix = ".mkv" if damage == "truncated_mkv" else ".mp4"
        whole = make_clip(tmp_path / f"whole{suffix}", frames=40, audio=damage == "truncated_mp4")
        data = whole.read_bytes()
        broken = tmp_path / f"cut{suffix}"
        broken.write_bytes(data[:len(data) // 2])
    out = tmp_path / "out.mp4"
    with pytest.raises(BadInputError) as caught:
        transform_video(broken, out, lambda frames: frames)
    message = str(caught.value)
    assert message.startswith(str(broken)) and "\n" not in message
    assert not out.exists() and no_leftovers(tmp_path) == []


def test_a_pipe_named_like_a_clip_is_refused_without_blocking(tmp_path):
    import os

    from visiontk.videoio import transform_video

    fifo = tmp_path / "stream.mp4"
    os.mkfifo(fifo)
    with pytest.raises(BadInputError, match="not a regular file"):
        transform_video(fifo, tmp_path / "out.mp4", lambda frames: frames)


def test_failure_in_the_frame_function_leaves_no_output_and_keeps_an_old_one(clip, tmp_path):
    from visiontk.videoio import transform_video

    out = tmp_path / "out.mp4"
    out.write_bytes(b"previous result")

    def fails_late(frames):
        if fails_late.calls == 3:
            raise RuntimeError("model crashed")
        fails_late.calls += 1
        return frames

    fails_late.calls = 0
    with pytest.raises(RuntimeError):
        transform_video(clip, out, fails_late, overwrite=True)
    assert out.read_bytes() == b"previous result" and no_leftovers(tmp_path) == []


def test_existing_output_and_unknown_extension_are_refused_before_work(clip, tmp_path):
    from visiontk.videoio import transform_video

    calls = []
    (tmp_path / "taken.mp4").write_bytes(b"x")
    with pytest.raises(BadInputError, match="output exists"):
        transform_video(clip, tmp_path / "taken.mp4", lambda f: calls.append(1) or f)
    with pytest.raises(BadInputError, match="video format"):
        transform_video(clip, tmp_path / "out.gif", lambda f: calls.append(1) or f)
    assert calls == []


def test_is_video_by_extension_and_by_content(clip, tmp_path):
    from visiontk.videoio import is_video

    disguised = tmp_path / "download.bin"
    disguised.write_bytes(clip.read_bytes())
    picture = tmp_path / "photo.png"
    from PIL import Image
    Image.new("RGB", (8, 8)).save(picture)
    assert is_video(clip) and is_video(disguised) and is_video(tmp_path / "missing.MOV")
    assert not is_video(picture) and not is_video(tmp_path / "missing.jpg")
    # A GIF starts with "G" (0x47, MPEG-TS's sync byte): it stays an image whatever its bytes.
    gif = tmp_path / "anim.gif"
    gif.write_bytes(b"GIF89a" + bytes(182) + b"G" + bytes(187) + b"G" + bytes(100))
    renamed = tmp_path / "anim.bin"
    renamed.write_bytes(gif.read_bytes())
    assert not is_video(gif) and not is_video(renamed)


def test_frames_are_streamed_not_held(tmp_path):
    """Frames reach the function as they are decoded, and are let go once written: at no time are
    more than a batch or two of them alive, however long the clip."""
    import weakref

    from visiontk.videoio import transform_video

    clip = make_clip(tmp_path / "long.mp4", frames=60, audio=False)
    alive: list = []
    decoded: list[int] = []
    decoded_at_call: list[int] = []
    most_alive = 0

    def invert(frames):
        nonlocal most_alive
        most_alive = max(most_alive, sum(ref() is not None for ref in alive))
        decoded_at_call.append(len(decoded))
        return [255 - f for f in frames]

    def seen(frame):
        alive.append(weakref.ref(frame.rgb))
        decoded.append(frame.index)

    transform_video(clip, tmp_path / "out.mp4", invert, batch=4, on_frame=seen)
    assert len(decoded) == 60 and most_alive <= 8
    assert decoded_at_call == list(range(4, 61, 4))  # each batch as soon as its frames are decoded
