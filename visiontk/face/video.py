"""Faces in video clips: detect (or name) the faces of every Nth frame, report each analysed frame,
draw the boxes into a copy of the clip (sound and timing kept), and sum up who appears when.

Frames are analysed upright (as a player shows them), so boxes are in displayed pixels and the drawn
clip is written upright. Between two analysed frames the drawn clip keeps the last boxes found.

Following faces: the whole frame is searched (the full pyramid) only every `full_every`th analysed frame;
in between, each face of the previous frame is searched again only in a region around its box
(`FaceTracker`), which costs a few small pyramid levels instead of the whole frame's. A face that
enters is found at the next full search (at most full_every - 1 analysed frames late); a face lost
in its region is dropped until then.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from visiontk.compat import renamed_keyword
from visiontk.face.detect import DEFAULT_MIN_CONFIDENCE, DEFAULT_MIN_FACE, Face, detect_faces
from visiontk.face.draw import KNOWN_COLOUR, UNKNOWN_COLOUR, draw_faces
from visiontk.videoio import Frame, VideoReader, transform_video

FACE = "face"           # the name `detect` gives every face in the summary
BRIDGE_SECONDS = 0.5    # a person missed for at most this long (a blink, a turned head) stays in one interval
FULL_EVERY = 5          # analysed frames between two searches of the whole frame (1: every frame)
REGION = 1.0            # the searched region around a followed face: its box grown by this much of its size
                        # on each side (a face moving a box's width between frames stays inside)


@dataclass
class Sighting:
    """One face in one analysed frame: what to report, what to draw, and under which name to sum up."""

    face: Face
    record: dict
    name: str = FACE
    label: str | None = None
    colour: tuple[int, int, int] = KNOWN_COLOUR


Analyse = Callable[[np.ndarray], list[Sighting]]


class FaceTracker:
    """Faces frame after frame: a full search every `full_every`th call, otherwise a search of the
    region around each face of the previous call (see the module doc). `faces(rgb)` returns the faces
    and, for each, the index of the previous call's face it follows (None: found by a full search)."""

    def __init__(self, *, min_confidence: float = DEFAULT_MIN_CONFIDENCE, min_face: int = DEFAULT_MIN_FACE,
                 full_every: int = FULL_EVERY):
        if full_every < 1:
            raise ValueError("full_every must be at least 1")
        self.min_confidence, self.min_face, self.full_every = min_confidence, min_face, full_every
        self.calls = 0
        self.previous: list[Face] = []

    def faces(self, rgb: np.ndarray) -> tuple[list[Face], list[int | None]]:
        full = self.calls % self.full_every == 0 or not self.previous
        self.calls += 1
        if full:
            found = detect_faces(rgb, min_confidence=self.min_confidence, min_face=self.min_face)
            followed: list[int | None] = [None] * len(found)
        else:
            pairs = [(self._follow(rgb, face), k) for k, face in enumerate(self.previous)]
            found, followed = [f for f, _ in pairs if f], [k for f, k in pairs if f]
        self.previous = found
        return found, followed

    def _follow(self, rgb: np.ndarray, face: Face) -> Face | None:
        """The face found nearest `face`'s place in the region around it, in frame coordinates."""
        height, width = rgb.shape[:2]
        grow = REGION * max(face.width, face.height)
        left, top = max(0, int(face.box[0] - grow)), max(0, int(face.box[1] - grow))
        right, bottom = min(width, int(face.box[2] + grow + 1)), min(height, int(face.box[3] + grow + 1))
        # Faces of half to twice the followed size: a few small pyramid levels.
        smallest = max(self.min_face, int(0.5 * min(face.width, face.height)))
        found = detect_faces(rgb[top:bottom, left:right], min_confidence=self.min_confidence, min_face=smallest)
        if not found:
            return None
        centre = np.array([(face.box[0] + face.box[2]) / 2 - left, (face.box[1] + face.box[3]) / 2 - top])
        best = min(found, key=lambda f: np.hypot((f.box[0] + f.box[2]) / 2 - centre[0],
                                                 (f.box[1] + f.box[3]) / 2 - centre[1]))
        shift = np.array([left, top], np.float64)
        return Face(tuple(float(v) for v in np.array(best.box) + np.tile(shift, 2)), best.confidence,
                    best.landmarks + shift)


def detect_video(source: str | Path, *, every: int = 1, draw: str | Path | None = None,
                 min_confidence: float = DEFAULT_MIN_CONFIDENCE, min_face: int = DEFAULT_MIN_FACE,
                 crf: int | None = None, overwrite: bool = False,
                 on_frame: Callable[[dict], None] | None = None, threshold: float | None = None,
                 full_every: int = FULL_EVERY) -> dict:
    """Faces in every `every`th frame of a clip; `on_frame` gets {frame, time, faces} for each.
    Returns a summary with the intervals in which faces are seen (under the name "face"). The whole
    frame is searched every `full_every`th analysed frame, faces are followed in between.
    (`threshold`: the deprecated old name of `min_confidence`.)"""
    min_confidence = renamed_keyword("threshold", "min_confidence", threshold, min_confidence)
    tracker = FaceTracker(min_confidence=min_confidence, min_face=min_face, full_every=full_every)

    def analyse(rgb: np.ndarray) -> list[Sighting]:
        return [Sighting(face, face.to_dict()) for face in tracker.faces(rgb)[0]]

    return scan_video(source, analyse, every=every, draw=draw, crf=crf, overwrite=overwrite,
                      on_frame=on_frame)


def identify_video(source: str | Path, gallery, model, *, max_distance: float | None = None, every: int = 1,
                   draw: str | Path | None = None, min_confidence: float = DEFAULT_MIN_CONFIDENCE,
                   min_face: int = DEFAULT_MIN_FACE, crf: int | None = None, overwrite: bool = False,
                   on_frame: Callable[[dict], None] | None = None, threshold: float | None = None,
                   detect_threshold: float | None = None, full_every: int = FULL_EVERY) -> dict:
    """Name the faces in every `every`th frame from `gallery` (unknown beyond `max_distance`, default
    the model's); the summary lists each name's intervals (faces no one in the gallery matches are
    summed up as "unknown"). Faces are named when the whole frame is searched (every `full_every`th
    analysed frame) and keep their name while followed. Deprecated old names: `threshold` for
    `max_distance`, `detect_threshold` for `min_confidence`."""
    from visiontk.face.gallery import UNKNOWN
    from visiontk.face.recognize import FaceEmbedding, face_chips

    max_distance = renamed_keyword("threshold", "max_distance", threshold, max_distance)
    max_distance = model.max_distance if max_distance is None else max_distance
    min_confidence = renamed_keyword("detect_threshold", "min_confidence", detect_threshold, min_confidence)
    tracker = FaceTracker(min_confidence=min_confidence, min_face=min_face, full_every=full_every)
    named: list = []   # (embedding, gallery.Match) of each face of the previous analysed frame

    def analyse(rgb: np.ndarray) -> list[Sighting]:
        faces, followed = tracker.faces(rgb)
        fresh = [face for face, k in zip(faces, followed) if k is None]
        vectors = model.embed_chips(face_chips(rgb, fresh))
        new = iter(zip(vectors, gallery.identify_many(vectors, max_distance) if fresh else []))
        named[:] = [next(new) if k is None else named[k] for k in followed]
        sightings = []
        for face, (vector, match) in zip(faces, named):
            known = match.name != UNKNOWN
            label = f"{match.name} {match.distance:.2f}" if known else match.name
            sightings.append(Sighting(face, FaceEmbedding(face, vector).match_record(match), match.name, label,
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
