"""Reading and writing video clips: the one video I/O layer every task uses, beside imageio.

Built on PyAV (FFmpeg's libraries, bundled in its wheels). Frames are streamed one at a time as uint8
RGB arrays (H, W, 3), so a clip never has to fit in memory. A transformed clip keeps what a viewer
notices besides the pictures: each frame's timestamp (so the frame rate, variable or not, is kept),
the rotation a phone recorded, and the sound, whose packets are copied unchanged (no re-encoding).
Output is H.264 in MP4 by default (VP9 for .webm), written to a temporary file beside the target and
renamed into place by `atomic.atomic_output`, so a failure never leaves half a clip behind.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from visiontk.errors import BadInputError
from visiontk.imageio import IMAGE_EXTENSIONS, check_input_file
from visiontk.atomic import atomic_output, check_output
from visiontk.runtime import progress

log = logging.getLogger("visiontk.video")

VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v")
# Output container and video encoder by extension; every other video extension is refused for output.
WRITE_FORMATS = {".mp4": ("mp4", "libx264"), ".m4v": ("mp4", "libx264"), ".mov": ("mov", "libx264"),
                 ".mkv": ("matroska", "libx264"), ".webm": ("webm", "libvpx-vp9")}
# (AVI is read but not written: it can hold neither per-frame timestamps nor a rotation.)
# Constant rate factor when none is given: visually near-lossless for x264 (0-51 scale), and VP9's
# usual good-quality setting (0-63 scale).
DEFAULT_CRF = {"libx264": 18, "libvpx-vp9": 31}
X264_PRESET = "medium"
# Audio codecs each container holds as they are (FFmpeg's canonical names). Matroska holds any; a codec
# not listed is re-encoded (AAC, or Opus for WebM) rather than losing the sound or failing at the end
# (FFmpeg accepts some, e.g. PCM in MP4, until it writes the file's index).
COPYABLE_AUDIO = {
    "mp4": {"aac", "mp3", "ac3", "eac3", "opus", "alac", "flac"},
    "mov": {"aac", "mp3", "ac3", "eac3", "alac", "pcm_s16le", "pcm_s16be", "pcm_s24le", "pcm_s24be",
            "pcm_f32le", "pcm_f32be"},
    "webm": {"opus", "vorbis"},
}
# ISO media brands that are still images (HEIF/AVIF) or sound only, not video.
_NOT_VIDEO_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis", b"M4A ",
                     b"M4B ", b"M4P "}
# Container tags that describe the file's own encoding, which the muxer writes anew; the rest (title,
# creation_time, a phone's location...) describe the clip and are copied to a transformed clip.
_OWN_TAGS = {"major_brand", "minor_version", "compatible_brands", "encoder", "duration"}
_MOV_ATOMS = {b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}


def sniff_video(path: str | Path) -> bool:
    """Whether the file's first bytes are those of a video container (MP4/MOV, Matroska/WebM, AVI,
    FLV or MPEG-TS), whatever its name says."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(377)
    except OSError:
        return False
    if len(head) >= 12 and head[4:8] in _MOV_ATOMS:
        return not (head[4:8] == b"ftyp" and head[8:12] in _NOT_VIDEO_BRANDS)
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # EBML: Matroska and WebM
        return True
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return True
    if head.startswith(b"FLV\x01"):
        return True
    # MPEG-TS: a sync byte every 188 bytes (three of them, so that a GIF's "G" can't pass by chance).
    return len(head) > 376 and head[0] == head[188] == head[376] == 0x47 and not head.startswith(b"GIF8")


def is_video(path: str | Path) -> bool:
    """Whether a batch should treat `path` as a clip: a video extension, or video content under a name
    that is not an image's (an image extension always goes to the image reader, animated GIFs too)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in VIDEO_EXTENSIONS:
        return True
    return suffix not in IMAGE_EXTENSIONS and path.is_file() and sniff_video(path)


def _av():
    import av

    av.logging.set_level(None)  # FFmpeg's own log lines would bypass our one-line errors
    return av


@dataclass
class Frame:
    """One decoded frame: its index in the clip, its presentation time in seconds, RGB pixels."""

    index: int
    time: float
    rgb: np.ndarray
    pts: int | None = None  # in the stream's time base; kept so that the output has the same timing


@dataclass
class VideoInfo:
    """What a clip is: sizes as stored (before rotation), rate, length and streams."""

    path: Path
    width: int
    height: int
    fps: Fraction
    frames: int             # from the header; 0 when the container doesn't say (Matroska, WebM)
    duration: float | None  # seconds of video, when known
    rotation: int           # counter-clockwise degrees a player turns the stored frames (0, 90, 180, 270)
    codec: str
    audio: str | None = None  # the audio codec, or None when the clip is silent
    time_base: Fraction = field(default=Fraction(1, 90000))
    pixel_aspect: Fraction = field(default=Fraction(1))  # width/height of a stored pixel (DVD, DV: not 1)

    @property
    def display_size(self) -> tuple[int, int]:
        """(width, height) as a player shows it, after rotation."""
        return (self.height, self.width) if self.rotation % 180 else (self.width, self.height)

    def estimated_frames(self) -> int:
        if self.frames:
            return self.frames
        return round(self.duration * float(self.fps)) if self.duration and self.fps else 0


def upright(rgb: np.ndarray, rotation: int) -> np.ndarray:
    """Turn stored pixels the way a player would show them (rotation counter-clockwise, in degrees)."""
    turns = (round(rotation / 90) % 4)
    return np.ascontiguousarray(np.rot90(rgb, turns)) if turns else rgb


class VideoReader:
    """An open clip: `info`, then `frames()` or `demux()` once. Use as a context manager.

    Every FFmpeg complaint (not a video, corrupt, truncated) becomes a one-line BadInputError naming
    the file. A clip that ends well before its header says (a truncated download) is an error too.
    """

    def __init__(self, path: str | Path, upright: bool = False):
        self.path = check_input_file(path)  # a FIFO or device would block FFmpeg for ever
        self.upright = upright
        av = _av()
        try:
            self.container = av.open(str(self.path), "r")
        except (av.FFmpegError, UnicodeDecodeError) as exc:
            raise self._bad(exc) from None
        try:
            self.info = self._probe()
        except BaseException:
            self.container.close()
            raise

    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.container.close()

    def _bad(self, exc: Exception) -> BadInputError:
        reason = getattr(exc, "strerror", None) or str(exc)
        return BadInputError(f"{self.path}: not a readable video, or corrupt or truncated ({reason})")

    @property
    def video_stream(self):
        return self.container.streams.video[0]

    @property
    def audio_stream(self):
        audio = self.container.streams.audio
        return audio[0] if audio else None

    def _probe(self) -> VideoInfo:
        if not self.container.streams.video:
            raise BadInputError(f"{self.path}: has no video stream")
        rotation = self._first_rotation()  # reopens the file: read the streams after it
        stream = self.video_stream
        context = stream.codec_context
        if not context.width or not context.height:
            raise BadInputError(f"{self.path}: video stream has no picture size (corrupt header)")
        fps = stream.average_rate or stream.guessed_rate or stream.base_rate or Fraction(25)
        audio = self.audio_stream
        return VideoInfo(self.path, context.width, context.height, Fraction(fps), stream.frames or 0,
                         self._video_duration(), rotation, context.codec.canonical_name,
                         audio.codec_context.codec.canonical_name if audio is not None else None,
                         stream.time_base or Fraction(1, 90000),
                         Fraction(context.sample_aspect_ratio or 1) or Fraction(1))

    def _video_duration(self) -> float | None:
        """The video stream's own length, when the file says it (not the audio's, which may be longer)."""
        stream = self.video_stream
        if stream.duration and stream.time_base:
            return float(stream.duration * stream.time_base)
        tag = stream.metadata.get("DURATION")  # Matroska writes each track's length as a tag
        if tag:
            try:
                hours, minutes, seconds = tag.split(":")
                return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
            except ValueError:
                pass
        if self.container.duration and len(self.container.streams) == 1:
            return self.container.duration / 1_000_000
        return None

    def _first_rotation(self) -> int:
        """The display rotation rides on decoded frames, so peek at the first one, then reopen the
        file (more dependable than seeking back in every container)."""
        av = _av()
        try:
            frame = next(self.container.decode(video=0), None)
            self.container.close()
            self.container = av.open(str(self.path), "r")
        except av.FFmpegError as exc:
            raise self._bad(exc) from None
        if frame is None:
            raise BadInputError(f"{self.path}: video stream has no frames")
        return round(frame.rotation / 90) * 90 % 360

    def demux(self) -> Iterator[Frame | object]:
        """Decoded video frames (as Frame) and raw audio packets (PyAV Packets), in file order."""
        av = _av()
        streams = [self.video_stream] + ([self.audio_stream] if self.audio_stream is not None else [])
        index, first, last = 0, None, None
        try:
            for packet in self.container.demux(streams):
                if packet.stream.type == "audio":
                    if packet.dts is not None:
                        yield packet
                    continue
                for decoded in packet.decode():
                    frame = self._frame(decoded, index)
                    first = frame.time if first is None else first
                    last = frame.time
                    index += 1
                    yield frame
        except av.FFmpegError as exc:
            raise self._bad(exc) from None
        self._check_complete(index, first, last)

    def frames(self) -> Iterator[Frame]:
        """The clip's frames, one at a time."""
        return (item for item in self.demux() if isinstance(item, Frame))

    def _frame(self, decoded, index: int) -> Frame:
        size = {}
        if (decoded.width, decoded.height) != (self.info.width, self.info.height):
            # The stream changed its picture size mid-way: keep the clip's first size throughout.
            size = {"width": self.info.width, "height": self.info.height}
        rgb = decoded.to_ndarray(format="rgb24", **size)
        if self.upright:
            rgb = upright(rgb, self.info.rotation)
        time = float(decoded.time) if decoded.time is not None else index / float(self.info.fps)
        return Frame(index, time, rgb, decoded.pts)

    def _check_complete(self, count: int, first: float | None, last: float | None) -> None:
        """A truncated clip often decodes without complaint: compare with what the header promised."""
        if count == 0:
            raise BadInputError(f"{self.path}: video stream has no frames")
        expected = self.info.frames
        if expected and count < expected - 2:
            raise BadInputError(f"{self.path}: truncated video ({count} of {expected} frames decoded)")
        if not expected and self.info.duration:
            span = (last - first) + 1 / float(self.info.fps)
            if span < self.info.duration - max(0.25, 3 / float(self.info.fps)):
                raise BadInputError(f"{self.path}: truncated video ({span:.2f} s of "
                                    f"{self.info.duration:.2f} s decoded)")


def probe(path: str | Path) -> VideoInfo:
    """Size, rate, length, rotation and audio of a clip, without decoding more than one frame."""
    with VideoReader(path) as reader:
        return reader.info


def output_format(path: str | Path) -> tuple[str, str]:
    """(container format, video encoder) for an output path, or BadInputError for one we can't write."""
    suffix = Path(path).suffix.lower()
    if suffix not in WRITE_FORMATS:
        raise BadInputError(f"{path}: can't tell the video format from the extension "
                            f"(use one of {', '.join(sorted(WRITE_FORMATS))})")
    return WRITE_FORMATS[suffix]


class VideoWriter:
    """Encodes RGB frames into a clip, with an optional audio stream whose packets are copied as they are.

    Streams are created when the first frame arrives (its size fixes the output size); audio packets
    given before that wait. Timestamps are kept from the source when given, so timing survives.
    """

    def __init__(self, path: Path, fps: Fraction, *, time_base: Fraction | None = None, rotation: int = 0,
                 audio_template=None, crf: int | None = None, codec: str | None = None, label: str = "",
                 pixel_aspect: Fraction = Fraction(1)):
        av = _av()
        self.path, self.fps, self.rotation = Path(path), Fraction(fps), rotation
        self.pixel_aspect = Fraction(pixel_aspect)
        self.label = label or str(path)
        fmt, default_codec = output_format(self.label if label else path)
        self.codec = codec or default_codec
        self.crf = DEFAULT_CRF.get(self.codec, 23) if crf is None else crf
        self.time_base = time_base or 1 / self.fps
        try:
            # faststart: the index goes before the pictures, so a browser can play while it downloads.
            options = {"movflags": "+faststart"} if fmt in ("mp4", "mov") else {}
            self.container = av.open(str(self.path), "w", format=fmt, options=options)
        except av.FFmpegError as exc:
            raise BadInputError(f"{self.label}: can't write the video ({exc})") from None
        self.audio_template = audio_template
        self.audio_encoder = _audio_encoder(fmt, audio_template, self.label)  # None: copy the packets
        self.video = self.audio = None
        self._pending_audio: list = []
        self.frames_written = 0
        self.audio_packets = 0

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is None:
            self.finish()
        else:
            self.container.close()

    def _start(self, width: int, height: int) -> None:
        stream = self.container.add_stream(self.codec, rate=self.fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = self.time_base
        stream.codec_context.time_base = self.time_base
        # Tag the colours as BT.709, matching the conversion in _encode_frame, so players agree.
        stream.codec_context.colorspace = stream.codec_context.color_primaries = 1
        stream.codec_context.color_trc = 1
        options = {"crf": str(self.crf)}
        if self.codec == "libx264":
            options["preset"] = X264_PRESET
        elif self.codec == "libvpx-vp9":
            options["b"] = "0"  # constant quality: crf alone decides
        stream.options = options
        if self.rotation:
            stream.set_display_rotation(self.rotation)
        if self.pixel_aspect != 1:
            stream.codec_context.sample_aspect_ratio = self.pixel_aspect
        self.video = stream
        if self.audio_template is not None and self.audio_encoder is None:
            self.audio = self.container.add_stream_from_template(self.audio_template)
        elif self.audio_template is not None:
            self.audio = _add_audio_encoder(self.container, self.audio_encoder, self.audio_template)
        for packet in self._pending_audio:
            self._mux_audio(packet)
        self._pending_audio.clear()

    def write(self, rgb: np.ndarray, pts: int | None = None) -> None:
        """Encode one (H, W, 3) uint8 frame; `pts` in `time_base` (default: the next frame's slot)."""
        rgb = _even(rgb)
        if self.video is None:
            self._start(rgb.shape[1], rgb.shape[0])
        if (rgb.shape[1], rgb.shape[0]) != (self.video.width, self.video.height):
            raise ValueError(f"frame {self.frames_written} is {rgb.shape[1]}x{rgb.shape[0]}, the clip "
                             f"{self.video.width}x{self.video.height}")
        av = _av()
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb, dtype=np.uint8), format="rgb24")
        frame = frame.reformat(format="yuv420p", dst_colorspace="ITU709", dst_color_range="MPEG")
        frame.pts = pts if pts is not None else round(self.frames_written / self.fps / self.time_base)
        frame.time_base = self.time_base
        self._mux(self.video.encode(frame))
        self.frames_written += 1

    def _mux(self, packets) -> None:
        av = _av()
        try:
            self.container.mux(packets)
        except av.FFmpegError as exc:
            raise BadInputError(f"{self.label}: can't write the video ({_reason(exc)})") from None

    def write_audio(self, packet) -> None:
        """Copy one audio packet from the source, or re-encode it when the container can't hold its
        codec (dropped when the writer has no audio stream)."""
        if self.audio_template is None:
            return
        if self.video is None:
            self._pending_audio.append(packet)
        else:
            self._mux_audio(packet)

    def _mux_audio(self, packet) -> None:
        if self.audio_encoder is None:
            packet.stream = self.audio
            self._mux(packet)
            self.audio_packets += 1
            return
        for frame in packet.decode():
            encoded = self.audio.encode(frame)
            self._mux(encoded)
            self.audio_packets += len(encoded)

    def finish(self) -> None:
        av = _av()
        if self.video is None:
            self.container.close()
            raise BadInputError(f"{self.label}: no frames to write")
        self._mux(self.video.encode(None))
        if self.audio is not None and self.audio_encoder is not None:
            for frame in self.audio_template.codec_context.decode(None):
                self._mux(self.audio.encode(frame))
            encoded = self.audio.encode(None)
            self._mux(encoded)
            self.audio_packets += len(encoded)
        try:
            self.container.close()  # writes the index: some refusals only come now
        except av.FFmpegError as exc:
            raise BadInputError(f"{self.label}: can't write the video ({_reason(exc)})") from None


def _reason(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or str(exc)


def _audio_encoder(fmt: str, template, label: str) -> str | None:
    """None when the source's audio can go into a `fmt` file as it is, else the encoder to use."""
    if template is None:
        return None
    name = template.codec_context.codec.canonical_name
    if fmt == "matroska" or name in COPYABLE_AUDIO.get(fmt, ()):
        return None
    encoder = "libopus" if fmt == "webm" else "aac"
    log.warning("%s: a %s file can't hold the source's %s audio as it is; re-encoding it with %s",
                label, fmt, name, encoder)
    return encoder


def _add_audio_encoder(container, encoder: str, template):
    """An audio stream encoding `template`'s sound; PyAV resamples what the encoder needs."""
    source = template.codec_context
    rate = 48000 if encoder == "libopus" else source.rate  # Opus runs at 48 kHz
    stream = container.add_stream(encoder, rate=rate)
    # A named layout: encoders refuse an unordered "2 channels". More than two channels are mixed down.
    stream.layout = "mono" if source.channels == 1 else "stereo"
    return stream


def _even(rgb: np.ndarray) -> np.ndarray:
    """H.264 in 4:2:0 needs even sides: drop a last odd row or column."""
    height, width = rgb.shape[:2]
    return rgb[:height - height % 2, :width - width % 2] if height % 2 or width % 2 else rgb


FrameBatchFn = Callable[[Sequence[np.ndarray]], Sequence[np.ndarray]]


def transform_video(source: str | Path, output: str | Path, fn: FrameBatchFn, *, batch: int = 1,
                    crf: int | None = None, codec: str | None = None, overwrite: bool = False,
                    upright_frames: bool = False, keep_audio: bool = True, desc: str = "frames",
                    on_frame: Callable[[Frame], None] | None = None) -> dict:
    """Run `fn` over a clip's frames, `batch` frames at a time (a list of RGB arrays in, as many out),
    and write the results as a new clip with the source's timing, rotation and audio.

    With `upright_frames` the frames reach `fn` turned the way a player shows them, and the output is
    written upright (no rotation tag); otherwise they come as stored and the rotation tag is copied.
    `on_frame` sees each source Frame before `fn` does (for per-frame records). The output appears
    only once complete.
    """
    check_output(output, overwrite)
    output_format(output)
    with VideoReader(source, upright=upright_frames) as reader:
        info = reader.info
        audio = reader.audio_stream if keep_audio else None
        with atomic_output(output, overwrite) as tmp, \
                progress(total=info.estimated_frames() or None, desc=desc, unit="frame") as bar:
            turned = upright_frames and info.rotation % 180 != 0
            writer = VideoWriter(tmp, info.fps, time_base=info.time_base, audio_template=audio,
                                 rotation=0 if upright_frames else info.rotation, crf=crf, codec=codec,
                                 label=str(output),
                                 pixel_aspect=1 / info.pixel_aspect if turned else info.pixel_aspect)
            writer.container.metadata.update({key: value for key, value in reader.container.metadata.items()
                                              if key.lower() not in _OWN_TAGS})
            with writer:
                pending: list[Frame] = []

                def flush() -> None:
                    results = fn([f.rgb for f in pending])
                    if len(results) != len(pending):
                        raise ValueError(f"the frame function returned {len(results)} frames for "
                                         f"{len(pending)}")
                    for frame, result in zip(pending, results):
                        writer.write(result, frame.pts)
                    bar.update(len(pending))
                    pending.clear()

                for item in reader.demux():
                    if not isinstance(item, Frame):
                        writer.write_audio(item)
                        continue
                    if on_frame is not None:
                        on_frame(item)
                    pending.append(item)
                    if len(pending) >= batch:
                        flush()
                if pending:
                    flush()
            size = (writer.video.width, writer.video.height)
    return {"output": str(output), "frames": writer.frames_written, "fps": round(float(info.fps), 3),
            "size": list(info.display_size if upright_frames else (info.width, info.height)),
            "output_size": list(size), "rotation": info.rotation,
            "audio": info.audio if audio is not None else None,
            "audio_copied": audio is not None and writer.audio_encoder is None,
            "audio_packets": writer.audio_packets, "crf": writer.crf, "codec": writer.codec}


def write_video(path: str | Path, frames: Iterator[np.ndarray] | Sequence[np.ndarray],
                fps: float | Fraction, *,
                crf: int | None = None, codec: str | None = None, overwrite: bool = False,
                rotation: int = 0) -> Path:
    """Write RGB frames (any iterable, consumed lazily) as a silent clip at a constant frame rate."""
    check_output(path, overwrite)
    with atomic_output(path, overwrite) as tmp:
        with VideoWriter(tmp, Fraction(fps).limit_denominator(1001), crf=crf, codec=codec, rotation=rotation,
                         label=str(path)) as writer:
            for rgb in frames:
                writer.write(rgb)
    return Path(path)


def read_frames(path: str | Path, upright_frames: bool = True) -> Iterator[Frame]:
    """A clip's frames one at a time, turned upright by default (closes the file when exhausted)."""
    with VideoReader(path, upright=upright_frames) as reader:
        yield from reader.frames()


def output_extension(path: str | Path) -> str:
    """The extension a batch gives the result for the clip `path`: its own when we can write it
    (.mp4, .mov, .mkv, .webm), else .mp4."""
    suffix = Path(path).suffix.lower()
    return suffix if suffix in WRITE_FORMATS else ".mp4"
