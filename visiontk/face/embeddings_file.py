"""The embeddings file `face embed -o` writes: one .npz holding, row for row,

    paths       (N,) str      the image each face came from
    face        (N,) int32    the face's number in that image (0 = the largest)
    embeddings  (N, D) float32
    boxes       (N, 4) float32  (left, top, right, bottom) in pixels
    model       ()  str       the network the embeddings came from (embeddings of different ones don't compare)

Plain arrays (no pickled objects), so numpy alone reads it: `np.load(path)["embeddings"]`.
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from visiontk.errors import BadInputError
from visiontk.imageio import check_input_file
from visiontk.atomic import atomic_output

SUFFIX = ".npz"


@dataclass
class EmbeddingSet:
    """Embedded faces of many images, in the order they were added."""

    model: str
    paths: list[str] = field(default_factory=list)
    faces: list[int] = field(default_factory=list)
    embeddings: list[np.ndarray] = field(default_factory=list)
    boxes: list[tuple[float, float, float, float]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.paths)

    def add(self, path: str | Path, face: int, embedding: np.ndarray, box) -> None:
        self.paths.append(str(path))
        self.faces.append(int(face))
        self.embeddings.append(np.asarray(embedding, np.float32).reshape(-1))
        self.boxes.append(tuple(float(v) for v in box))

    @staticmethod
    def check_path(path: str | Path) -> Path:
        """`path`, if it names an .npz file (BadInputError otherwise): check before the work."""
        path = Path(path)
        if path.suffix.lower() != SUFFIX:
            raise BadInputError(f"{path}: embeddings are written as .npz")
        return path

    def save(self, path: str | Path, overwrite: bool = False) -> Path:
        """Write the file atomically (a reader never sees half of it)."""
        path = self.check_path(path)
        count = len(self)
        with atomic_output(path, overwrite) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, paths=np.array(self.paths, dtype=str),
                     face=np.array(self.faces, dtype=np.int32),
                     embeddings=np.stack(self.embeddings) if count else np.zeros((0, 0), np.float32),
                     boxes=np.array(self.boxes, dtype=np.float32).reshape(count, 4),
                     model=np.array(self.model))
        return path

    @classmethod
    def load(cls, path: str | Path) -> "EmbeddingSet":
        """Read a file written by `save` (`face embed -o`); a broken one is a one-line BadInputError."""
        path = cls.check_path(path)
        check_input_file(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                found = cls(str(data["model"]), data["paths"].astype(str).tolist(),
                            data["face"].astype(int).tolist(), list(np.asarray(data["embeddings"], np.float32)),
                            [tuple(map(float, box)) for box in data["boxes"]])
        except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as exc:
            detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise BadInputError(f"{path}: not a readable embeddings file ({detail})") from None
        if not len(found.faces) == len(found.embeddings) == len(found.boxes) == len(found):
            raise BadInputError(f"{path}: not a readable embeddings file (arrays of different lengths)")
        return found
