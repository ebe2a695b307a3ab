"""Faces in video clips: detect (or name) the faces of every Nth frame, report each analysed frame,
draw the boxes into a copy of the clip (sound and timing kept), and sum up who appears when.

Frames are analysed upright (as a player shows them), so boxes are in displayed pixels and the drawn
clip is written upright. Between two analysed frames the drawn clip keeps the last boxes found.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from visiontk.errors import renamed_keyword
from visiontk.face.detect import DEFAULT_MIN_CONFIDENCE, DEFAULT_MIN_FACE, Face, detect_faces
from visiontk.face.draw import KNOWN_COLOUR, UNKNOWN_COLOUR, draw_faces
from visiontk.videoio import Frame, VideoReader, transform_video

FACE = "face"           # the name `detect` gives every face in the summary
BRIDGE_SECONDS = 0.5    # a person missed for at most this long (a blink, a turned head) stays in one interval


@dataclass
class Sighting:
    """One face in one analysed frame: what to report, what to draw, and under which name to sum up."""

    face: Face
    record: dict
    name: str = FACE
    label: str | None = None
    colour: tuple[int, int, int] = KNOWN_COLOUR


Analyse = Callable[[np.ndarray], list[Sighting]]


def detect_video(source: str | Path, *, every: int = 1, draw: str | Path | None = None,
                 min_confidence: float = DEFAULT_MIN_CONFIDENCE, min_face: int = DEFAULT_MIN_FACE,
                 crf: int | None = None, overwrite: bool = False,
                 on_frame: Callable[[dict], None] | None = None, threshold: float | None = None) -> dict:
    """Faces in every `every`th frame of a clip; `on_frame` gets {frame, time, faces} for each.
    Returns a summary with the intervals in which faces are seen (under the name "face").
    (`threshold`: the deprecated old name of `min_confidence`.)"""
    min_confidence = renamed_keyword("threshold", "min_confidence", threshold, min_confidence)

    def analyse(rgb: np.ndarray) -> list[Sighting]:
        return [Sighting(face, face.to_dict()) for face in detect_faces(rgb, min_confidence=min_confidence,
                                                                        min_face=min_face)]

    return scan_video(source, analyse, every=every, draw=draw, crf=crf, overwrite=overwrite,
                      on_frame=on_frame)


def identify_video(source: str | Path, gallery, model, *, max_distance: float | None = None, every: int = 1,
                   draw: str | Path | None = None, min_confidence: float = DEFAULT_MIN_CONFIDENCE,
                   min_face: int = DEFAULT_MIN_FACE, crf: int | None = None, overwrite: bool = False,
                   on_frame: Callable[[dict], None] | None = None, threshold: float | None = None,
                   detect_threshold: float | None = None) -> dict:
    """Name the faces in every `every`th frame from `gallery` (unknown beyond `max_distance`, default
    the model's); the summary lists each name's intervals (faces no one in the gallery matches are
    summed up as "unknown"). Deprecated old names: `threshold` for `max_distance`, `detect_threshold`
    for `min_confidence`."""
    from visiontk.face.gallery import UNKNOWN
    from visiontk.face.recognize import embed_faces

    max_distance = renamed_keyword("threshold", "max_distance", threshold, max_distance)
    max_distance = model.max_distance if max_distance is None else max_distance
    min_confidence = renamed_keyword("detect_threshold", "min_confidence", detect_threshold, min_confidence)

    def analyse(rgb: np.ndarray) -> list[Sighting]:
        found = embed_faces(rgb, model=model, min_confidence=min_confidence, min_face=min_face)
        sightings = []
        for item in found:
            match = gallery.identify(item.embedding, max_distance)
            known = match.name != UNKNOWN
            record = item.match_record(match)
            label = f"{match.name} {match.distance:.2f}" if known else match.name
            sightings.append(Sighting(item.face, record, match.name, label,
                                      KNOWN_COLOUR if known else UNKNOWN_COLOUR))
        return sightings

    return scan_video(source, analyse, every=every, draw=draw, crf=crf, overwrite=overwrite,
                      on_frame=on_frame)


def scan_video(source: str | Path, analyse: Analyse, *, every: int = 1, draw: str | Path | None = None,
               crf: int | None = None, overwrite: bool = False,
               on_frame: Callable[[dict], None] | None = None) -> dict:
    """Run `analyse` on every `every`th upright frame; report, draw and sum up (see the module doc)."""
    if every < 1:
        raise ValueError("every must be at least 1")
    timeline = Timeline()
    latest: list[Sighting] = []

    def visit(frame: Frame) -> None:
        timeline.tick(frame.time)
        if frame.index % every:
            return
        latest[:] = analyse(frame.rgb)
        timeline.add(frame.time, [s.name for s in latest])
        if on_frame is not None:
            on_frame({"frame": frame.index, "time": round(frame.time, 3),
                      "faces": [sighting.record for sighting in latest]})

    if draw is not None:
        # transform_video calls on_frame (our visit) just before drawing that same frame.
        record = transform_video(source, draw, lambda frames: [_drawn(rgb, latest) for rgb in frames],
                                 crf=crf, overwrite=overwrite, upright_frames=True, on_frame=visit,
                                 desc="frames")
        info_fps, size = record["fps"], record["size"]
    else:
        with VideoReader(source, upright=True) as reader:
            for frame in reader.frames():
                visit(frame)
            info_fps, size = float(reader.info.fps), list(reader.info.display_size)
    summary = {"frames": timeline.frames, "analysed": timeline.analysed, "every": every, "fps": info_fps,
               "size": size, "appearances": timeline.intervals(every / info_fps, 1 / info_fps)}
    if draw is not None:
        summary["drawn"] = str(draw)
    return summary


def _drawn(rgb: np.ndarray, sightings: list[Sighting]) -> np.ndarray:
    if not sightings:
        return rgb
    labels = [s.label for s in sightings] if any(s.label for s in sightings) else None
    return np.asarray(draw_faces(rgb, [s.face for s in sightings], labels, [s.colour for s in sightings]))


class Timeline:
    """Which names were seen at which analysed times, turned into [start, end] intervals per name."""

    def __init__(self) -> None:
        self.frames = 0
        self.analysed = 0
        self.last_time = 0.0
        self.seen: dict[str, list[float]] = {}

    def tick(self, time: float) -> None:
        """Count a frame of the clip, analysed or not."""
        self.frames += 1
        self.last_time = max(self.last_time, time)

    def add(self, time: float, names: list[str]) -> None:
        """Record the names seen in an analysed frame (after its tick)."""
        self.analysed += 1
        for name in set(names):
            self.seen.setdefault(name, []).append(time)

    def intervals(self, step: float, frame_duration: float) -> dict[str, list[list[float]]]:
        """Each sighting covers `step` seconds (until the next analysed frame, at most to the clip's
        end); sightings closer than BRIDGE_SECONDS apart join into one interval."""
        end = self.last_time + frame_duration
        result = {}
        for name, times in sorted(self.seen.items()):
            spans: list[list[float]] = []
            for time in times:
                if spans and time - spans[-1][1] <= BRIDGE_SECONDS:
                    spans[-1][1] = min(time + step, end)
                else:
                    spans.append([time, min(time + step, end)])
            result[name] = [[round(a, 3), round(b, 3)] for a, b in spans]
        return result


def describe_summary(record: dict) -> str:
    """The text a person reads for a clip: how much was analysed, then who appears when."""
    head = (f"{record['input']}: {record['frames']} frames, {record['analysed']} analysed"
            + (f", drawn into {record['drawn']}" if record.get("drawn") else ""))
    if not record["appearances"]:
        return f"{head}\n  no faces"
    lines = [head]
    for name, spans in record["appearances"].items():
        lines.append(f"  {name}: " + ", ".join(f"{a:.1f}-{b:.1f} s" for a, b in spans))
    return "\n".join(lines)
