"""Faces to embeddings, and embeddings to answers: the same person or not.

Names of the two cut-offs (one rule across visiontk.face):
- `min_confidence`: how sure the detector must be that a box is a face (detect_faces, embed, embed_faces;
  verify and the video functions pass it on). Default DEFAULT_MIN_CONFIDENCE.
- `max_distance`: two embeddings at most this far apart are the same person (verify, Gallery.identify,
  identify_video, chinese_whispers, FaceModel.max_distance). Default: the model's, DEFAULT_MAX_DISTANCE
  (0.6) for dlib's. Only `compare_faces`, which mirrors ageitgey's face_recognition.compare_faces, keeps
  that library's name for it, `tolerance`.
Both were once called `threshold` (and `detect_threshold`); those keywords still work for one release,
with a DeprecationWarning.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from visiontk.compat import renamed_keyword
from visiontk.errors import BadInputError, NoFaceError
from visiontk.face.align import CHIP_SIZE, align
from visiontk.face.detect import DEFAULT_MIN_CONFIDENCE, DEFAULT_MIN_FACE, Face, detect_faces
from visiontk.face.model import DEFAULT_MAX_DISTANCE, FaceModel, load_model
from visiontk.imageio import read_image


def load_image(image: str | Path | np.ndarray) -> np.ndarray:
    """An RGB uint8 array from a path or an array."""
    return image if isinstance(image, np.ndarray) else read_image(image)


def _label(image, source) -> str:
    return str(source if source is not None else image if not isinstance(image, np.ndarray) else "image")


def face_chips(image: np.ndarray, faces: list[Face]) -> np.ndarray:
    """The aligned chips of `faces`, stacked (N, CHIP_SIZE, CHIP_SIZE, 3) float32."""
    if not faces:
        return np.zeros((0, CHIP_SIZE, CHIP_SIZE, 3), np.float32)
    return np.stack([align(image, face.landmarks) for face in faces])


def pick_face(faces: list[Face], index: int, source: str) -> Face:
    """Face number `index` (0 = the largest), or NoFaceError naming the file."""
    if not faces:
        raise NoFaceError(f"{source}: no face found (try a smaller `min_face` or a lower "
                          "`min_confidence`, or a photo where the face is visible)")
    if not 0 <= index < len(faces):
        raise BadInputError(f"{source}: asked for face {index} but found {len(faces)} "
                            f"(faces are numbered from 0, largest first)")
    return faces[index]


@dataclass
class FaceEmbedding:
    face: Face
    embedding: np.ndarray

    def to_dict(self, index: int) -> dict:
        """This face's record in `face embed --json`: its number in the image, box and embedding."""
        return {"face": index, "box": [round(v, 1) for v in self.face.box],
                "embedding": [round(float(v), 6) for v in self.embedding]}

    def match_record(self, match) -> dict:
        """This face's record in `face identify --json`: its box and whom it matched (a gallery.Match)."""
        return {"box": [round(v, 1) for v in self.face.box], **match.to_dict()}


def embed_faces(image: str | Path | np.ndarray, *, model: FaceModel | None = None,
                min_confidence: float = DEFAULT_MIN_CONFIDENCE, min_face: int = DEFAULT_MIN_FACE,
                threshold: float | None = None) -> list[FaceEmbedding]:
    """Every face in an image with its embedding, largest first. (`threshold`: the deprecated old name
    of `min_confidence`.)"""
    min_confidence = renamed_keyword("threshold", "min_confidence", threshold, min_confidence)
    model = model or load_model()
    pixels = load_image(image)
    faces = detect_faces(pixels, min_confidence=min_confidence, min_face=min_face)
    embeddings = model.embed_chips(face_chips(pixels, faces))
    return [FaceEmbedding(face, vector) for face, vector in zip(faces, embeddings)]


def embed(image: str | Path | np.ndarray, *, face_index: int = 0, model: FaceModel | None = None,
          min_confidence: float = DEFAULT_MIN_CONFIDENCE, min_face: int = DEFAULT_MIN_FACE,
          source: str | None = None, threshold: float | None = None) -> FaceEmbedding:
    """One face's embedding: the largest face, or face number `face_index`. NoFaceError if none.
    (`threshold`: the deprecated old name of `min_confidence`.)"""
    min_confidence = renamed_keyword("threshold", "min_confidence", threshold, min_confidence)
    model = model or load_model()
    pixels = load_image(image)
    faces = detect_faces(pixels, min_confidence=min_confidence, min_face=min_face)
    face = pick_face(faces, face_index, _label(image, source))
    return FaceEmbedding(face, model.embed_chips(face_chips(pixels, [face]))[0])


def face_encodings(image: str | Path | np.ndarray, model: FaceModel | None = None) -> list[np.ndarray]:
    """The embedding of every face in the image (like face_recognition.face_encodings)."""
    return [item.embedding for item in embed_faces(image, model=model)]


def face_distance(known: np.ndarray, candidate: np.ndarray) -> np.ndarray | float:
    """Euclidean distance between embeddings: one per row of `known`, or a single float."""
    distances = np.linalg.norm(np.atleast_2d(known) - np.asarray(candidate), axis=-1)
    return float(distances[0]) if np.ndim(known) == 1 else distances


def compare_faces(known: list[np.ndarray] | np.ndarray, candidate: np.ndarray,
                  tolerance: float = DEFAULT_MAX_DISTANCE, *, threshold: float | None = None) -> list[bool]:
    """For each known embedding: is `candidate` the same person, at most `tolerance` away? (Like
    face_recognition.compare_faces, whose name for the distance it keeps; `threshold`: deprecated.)"""
    tolerance = renamed_keyword("threshold", "tolerance", threshold, tolerance)
    return [bool(d <= tolerance) for d in np.atleast_1d(face_distance(np.atleast_2d(known), candidate))]


@dataclass
class Verification:
    same: bool
    distance: float
    max_distance: float   # the same-person distance the answer was given at

    @property
    def threshold(self) -> float:
        """The old name of `max_distance`."""
        warnings.warn("Verification.threshold is deprecated, use max_distance", DeprecationWarning,
                      stacklevel=2)
        return self.max_distance

    def to_dict(self) -> dict:
        # "threshold" repeats max_distance for one release: JSON readers of 0.x look for it (README).
        return {"same": self.same, "distance": round(self.distance, 4), "max_distance": self.max_distance,
                "threshold": self.max_distance}


def verify(image_a: str | Path | np.ndarray, image_b: str | Path | np.ndarray, *,
           model: FaceModel | None = None, max_distance: float | None = None, face_index: int = 0,
           min_confidence: float = DEFAULT_MIN_CONFIDENCE, min_face: int = DEFAULT_MIN_FACE,
           threshold: float | None = None, detect_threshold: float | None = None,
           sources: tuple[str, str] | None = None) -> Verification:
    """Are the (largest) faces in two images the same person? Same when their embeddings are at most
    `max_distance` apart (default: the model's). `sources` names two arrays in errors. Deprecated old
    names: `threshold` for `max_distance`, `detect_threshold` for `min_confidence`."""
    max_distance = renamed_keyword("threshold", "max_distance", threshold, max_distance)
    min_confidence = renamed_keyword("detect_threshold", "min_confidence", detect_threshold, min_confidence)
    model = model or load_model()
    max_distance = model.max_distance if max_distance is None else max_distance
    a, b = (embed(image, face_index=face_index, model=model, min_confidence=min_confidence, min_face=min_face,
                  source=source) for image, source in zip((image_a, image_b), sources or (None, None)))
    distance = face_distance(a.embedding, b.embedding)
    return Verification(distance <= max_distance, distance, max_distance)


@dataclass
class PairsSummary:
    """What verifying a pairs file (`face verify --pairs`) sums up: of the pairs whose file says whether
    they are one person, how many were answered right, and at which distance."""

    labelled: int = 0
    correct: int = 0
    max_distance: float | None = None

    def add(self, verdict) -> dict:
        """Count one answered pair (a face.evaluate.PairVerdict with a distance) and return its record:
        a, b, same, distance, max_distance (and "threshold", its old name), expected when labelled."""
        pair, same = verdict.pair, bool(verdict.distance <= verdict.max_distance)
        self.max_distance = verdict.max_distance
        record = {"a": str(pair.a), "b": str(pair.b), "same": same, "distance": round(verdict.distance, 4),
                  "max_distance": verdict.max_distance, "threshold": verdict.max_distance}
        if pair.same is not None:
            record["expected"] = pair.same
            self.labelled += 1
            self.correct += same == pair.same
        return record

    def text(self) -> str:
        """One line for a person ("" when no pair was labelled)."""
        if not self.labelled:
            return ""
        return (f"{self.correct} of {self.labelled} labelled pairs answered correctly at threshold "
                f"{self.max_distance:g}")
