"""Faces to embeddings, and embeddings to answers: the same person or not."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from visiontk.errors import BadInputError, NoFaceError
from visiontk.face.align import align
from visiontk.face.detect import DEFAULT_MIN_CONFIDENCE, DEFAULT_MIN_FACE, Face, detect_faces
from visiontk.face.model import FaceModel, load_model
from visiontk.imageio import read_image


def load_image(image: str | Path | np.ndarray) -> np.ndarray:
    """An RGB uint8 array from a path or an array."""
    return image if isinstance(image, np.ndarray) else read_image(image)


def _label(image, source) -> str:
    return str(source if source is not None else image if not isinstance(image, np.ndarray) else "image")


def face_chips(image: np.ndarray, faces: list[Face]) -> np.ndarray:
    """The aligned 150x150 chips of `faces`, stacked (N, 150, 150, 3) float32."""
    return np.stack([align(image, face.landmarks) for face in faces]) if faces else np.zeros((0, 150, 150, 3),
                                                                                              np.float32)


def pick_face(faces: list[Face], index: int, source: str) -> Face:
    """Face number `index` (0 = the largest), or NoFaceError naming the file."""
    if not faces:
        raise NoFaceError(f"{source}: no face found (try a smaller --min-face or a lower "
                          "--min-confidence, or a photo where the face is visible)")
    if not 0 <= index < len(faces):
        raise BadInputError(f"{source}: asked for face {index} but found {len(faces)} "
                            f"(faces are numbered from 0, largest first)")
    return faces[index]


@dataclass
class FaceEmbedding:
    face: Face
    embedding: np.ndarray


def embed_faces(image: str | Path | np.ndarray, *, model: FaceModel | None = None,
                min_confidence: float = DEFAULT_MIN_CONFIDENCE, min_face: int = DEFAULT_MIN_FACE,
                threshold: float | None = None) -> list[FaceEmbedding]:
    """Every face in an image with its embedding, largest first. (`threshold`: old name of
    `min_confidence`.)"""
    model = model or load_model()
    pixels = load_image(image)
    faces = detect_faces(pixels, min_confidence=min_confidence if threshold is None else threshold,
                         min_face=min_face)
    embeddings = model.embed_chips(face_chips(pixels, faces))
    return [FaceEmbedding(face, vector) for face, vector in zip(faces, embeddings)]


def embed(image: str | Path | np.ndarray, *, face_index: int = 0, model: FaceModel | None = None,
          min_confidence: float = DEFAULT_MIN_CONFIDENCE, min_face: int = DEFAULT_MIN_FACE,
          source: str | None = None, threshold: float | None = None) -> FaceEmbedding:
    """One face's embedding: the largest face, or face number `face_index`. NoFaceError if none.
    (`threshold`: old name of `min_confidence`.)"""
    model = model or load_model()
    pixels = load_image(image)
    faces = detect_faces(pixels, min_confidence=min_confidence if threshold is None else threshold,
                         min_face=min_face)
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
                  threshold: float = 0.6) -> list[bool]:
    """For each known embedding: is `candidate` the same person (like face_recognition.compare_faces)?"""
    return [bool(d <= threshold) for d in np.atleast_1d(face_distance(np.atleast_2d(known), candidate))]


@dataclass
class Verification:
    same: bool
    distance: float
    threshold: float

    def to_dict(self) -> dict:
        return {"same": self.same, "distance": round(self.distance, 4), "threshold": self.threshold}


def verify(image_a: str | Path | np.ndarray, image_b: str | Path | np.ndarray, *,
           model: FaceModel | None = None, threshold: float | None = None, face_index: int = 0,
           min_confidence: float = DEFAULT_MIN_CONFIDENCE, min_face: int = DEFAULT_MIN_FACE,
           detect_threshold: float | None = None) -> Verification:
    """Are the (largest) faces in two images the same person? Distance at most `threshold` = same.
    (`detect_threshold`: old name of `min_confidence`.)"""
    model = model or load_model()
    threshold = model.threshold if threshold is None else threshold
    if detect_threshold is not None:
        min_confidence = detect_threshold
    a, b = (embed(image, face_index=face_index, model=model, min_confidence=min_confidence, min_face=min_face)
            for image in (image_a, image_b))
    distance = face_distance(a.embedding, b.embedding)
    return Verification(distance <= threshold, distance, threshold)
