"""A gallery of known people: names and embeddings (several per person), kept in an .npz or .json file.

An .npz gallery holds one (N, D) float32 `embeddings` array beside `names` and `sources` arrays, so
loading it reads a few arrays, never one Python object per embedding, and `identify_many` answers any
number of faces with one matrix product. Writers update a gallery under an exclusive lock (`Gallery.update`):
two `face enroll` runs into the same file both land.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from visiontk.compat import renamed_keyword
from visiontk.errors import BadInputError
from visiontk.face.detect import DEFAULT_MIN_CONFIDENCE, DEFAULT_MIN_FACE
from visiontk.face.model import DEFAULT_MODEL
from visiontk.imageio import check_input_file
from visiontk.atomic import atomic_output

FORMATS = (".npz", ".json")
DLIB_EMBEDDING_SIZE = 128   # the length of dlib's face ResNet's embeddings
UNKNOWN = "unknown"


@dataclass
class Match:
    name: str           # UNKNOWN when no one is close enough
    distance: float     # to the nearest enrolled embedding
    nearest: str        # the nearest person, even when too far

    def to_dict(self) -> dict:
        return {"name": self.name, "distance": round(self.distance, 4), "nearest": self.nearest}


@dataclass
class Gallery:
    """Enrolled people. `model` names the network the embeddings came from: embeddings of different
    networks can't be compared."""

    model: str
    names: list[str] = field(default_factory=list)
    embeddings: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    sources: list[str] = field(default_factory=list)
    _norms: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)  # |e|^2, cached

    def __len__(self) -> int:
        return len(self.names)

    @property
    def size(self) -> int | None:
        """How many values each embedding has (None while the gallery is empty)."""
        return int(self.embeddings.shape[1]) if len(self) and self.embeddings.ndim == 2 else None

    def people(self) -> dict[str, int]:
        """Each enrolled name with its number of embeddings."""
        counts: dict[str, int] = {}
        for name in self.names:
            counts[name] = counts.get(name, 0) + 1
        return counts

    def add(self, name: str, embedding: np.ndarray, source: str = "") -> None:
        self.add_many([name], np.asarray(embedding, np.float32).reshape(1, -1), [source])

    def add_many(self, names: list[str], embeddings: np.ndarray, sources: list[str] | None = None) -> None:
        """Enrol several embeddings at once (one concatenation, however many)."""
        embeddings = np.asarray(embeddings, np.float32)
        embeddings = embeddings.reshape(len(names), -1) if len(names) else embeddings.reshape(0, -1)
        if len(self) and embeddings.shape[1] != self.size:
            raise BadInputError(f"embedding has {embeddings.shape[1]} values but the gallery holds "
                                f"{self.embeddings.shape[1]}")
        self.embeddings = embeddings if not len(self) else np.concatenate([self.embeddings, embeddings])
        self.names.extend(names)
        self.sources.extend(sources if sources is not None else [""] * len(names))
        self._norms = None

    def remove(self, name: str) -> int:
        """Forget a person; returns how many embeddings were dropped."""
        keep = [i for i, n in enumerate(self.names) if n != name]
        dropped = len(self) - len(keep)
        self.names = [self.names[i] for i in keep]
        self.sources = [self.sources[i] for i in keep]
        self.embeddings = self.embeddings[keep]
        self._norms = None
        return dropped

    def identify(self, embedding: np.ndarray, max_distance: float | None = None, *,
                 threshold: float | None = None) -> Match:
        """The enrolled person nearest to `embedding`, or UNKNOWN when farther than `max_distance` (the
        model's same-person distance, FaceModel.max_distance). `threshold`: its deprecated old name."""
        max_distance = renamed_keyword("threshold", "max_distance", threshold, max_distance)
        return self.identify_many(np.asarray(embedding).reshape(1, -1), max_distance)[0]

    def identify_many(self, queries: np.ndarray, max_distance: float | None = None, *,
                      threshold: float | None = None) -> list[Match]:
        """`identify` for each row of `queries`: all distances from one matrix product,
        |e - q|^2 = |e|^2 - 2 e.q + |q|^2, with the gallery's |e|^2 computed once."""
        max_distance = renamed_keyword("threshold", "max_distance", threshold, max_distance)
        if max_distance is None:
            raise TypeError("identify needs max_distance (the model's is FaceModel.max_distance)")
        queries = np.atleast_2d(np.asarray(queries, np.float32))
        if not len(self):
            return [Match(UNKNOWN, float("inf"), "") for _ in queries]
        if queries.shape[1] != self.size:
            raise BadInputError(f"a face embedding has {queries.shape[1]} values but the gallery's have "
                                f"{self.size}: they come from different models")
        if self._norms is None:
            self._norms = np.einsum("ij,ij->i", self.embeddings, self.embeddings)
        squared = self._norms[None] - 2 * (queries @ self.embeddings.T)
        best = np.argmin(squared, axis=1)
        # The winner's distance again, directly: the expansion loses digits when the distance is small.
        distances = np.linalg.norm(self.embeddings[best] - queries, axis=1)
        return [Match(self.names[i] if d <= max_distance else UNKNOWN, float(d), self.names[i])
                for i, d in zip(best, distances)]

    # ---- files ----

    @staticmethod
    def check_path(path: Path) -> Path:
        if path.suffix.lower() not in FORMATS:
            raise BadInputError(f"{path}: a gallery file must end in .npz or .json")
        return path

    @classmethod
    def load(cls, path: str | Path, model: str | None = None, *, size: int | None = None) -> "Gallery":
        """Read a gallery; a missing file gives an empty gallery for `model` (when given). `size`: the
        number of values the model's embeddings have; a gallery whose embeddings have another is
        refused as damaged (as is a gallery of dlib's model whose embeddings are not 128 values)."""
        path = cls.check_path(Path(path))
        if not path.exists():
            if model is None:
                raise BadInputError(f"{path}: no such gallery (create it with `visiontk face enroll`)")
            return cls(model)
        check_input_file(path)  # a FIFO would block the read for ever
        try:
            gallery = cls._read_json(path) if path.suffix.lower() == ".json" else cls._read_npz(path)
        except (OSError, ValueError, KeyError, TypeError, AttributeError, EOFError, IndexError,
                zipfile.BadZipFile, UnicodeDecodeError, BadInputError) as exc:
            # A truncated or hand-edited file: say so in one line (never an internal error).
            detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise BadInputError(f"{path}: not a readable visiontk gallery ({detail}); restore it or "
                                "enroll into a new file") from None
        if model is not None:
            gallery.check_model(path, model)
        return gallery.check_size(path, size)

    @classmethod
    def for_model(cls, path: str | Path, model) -> "Gallery":
        """The gallery at `path`, to name faces with `model` (a FaceModel): a missing or empty gallery, or
        one built with another model or embedding size, is refused (BadInputError) before any photo."""
        path = cls.check_path(Path(path))
        gallery = cls.load(path).check_model(path, model.name).check_size(path, model.embedding_size)
        if not len(gallery):
            raise BadInputError(f"{path}: gallery is empty (add people with `visiontk face enroll`)")
        return gallery

    def check_model(self, path: Path, model: str) -> "Gallery":
        """This gallery, if its embeddings come from the network named `model` (BadInputError otherwise)."""
        if self.model != model:
            raise BadInputError(f"{path}: gallery was built with model {self.model!r}, not {model!r}; "
                                "use that model or a new gallery")
        return self

    @classmethod
    def _read_json(cls, path: Path) -> "Gallery":
        data = json.loads(path.read_text())
        faces = data["faces"]
        if not isinstance(faces, list):
            raise ValueError("'faces' is not a list")
        gallery = cls(str(data["model"]))
        if faces:
            embeddings = np.array([item["embedding"] for item in faces], dtype=np.float32)
            if embeddings.ndim != 2:
                raise ValueError("embeddings of different lengths")
            gallery.add_many([str(item["name"]) for item in faces], embeddings,
                             [str(item.get("source", "")) for item in faces])
        return gallery.checked()

    @classmethod
    def _read_npz(cls, path: Path) -> "Gallery":
        with np.load(path, allow_pickle=False) as data:
            names, sources = data["names"], data["sources"]
            embeddings = np.asarray(data["embeddings"], dtype=np.float32)
            gallery = cls(str(data["model"]), names.astype(str).tolist(), embeddings, sources.astype(str).tolist())
        return gallery.checked()

    def check_size(self, path: Path, size: int | None) -> "Gallery":
        """This gallery, unless its embeddings are not `size` values long (a damaged file: exit 3)."""
        if size is not None and self.size not in (None, size):
            raise BadInputError(f"{path}: not a readable visiontk gallery (its embeddings have {self.size} "
                                f"values, the model's have {size}); restore it or enroll into a new file")
        return self

    def checked(self) -> "Gallery":
        """This gallery, if its arrays agree in shape and hold numbers (ValueError otherwise)."""
        count = len(self.names)
        if self.embeddings.ndim != 2 or self.embeddings.shape[0] != count or len(self.sources) != count:
            raise ValueError(f"{count} names, {len(self.sources)} sources and embeddings of shape "
                             f"{self.embeddings.shape} do not match")
        if not np.isfinite(self.embeddings).all():
            raise ValueError("embeddings hold non-numbers")
        if self.model == DEFAULT_MODEL and self.size not in (None, DLIB_EMBEDDING_SIZE):
            raise ValueError(f"its embeddings have {self.size} values, {DEFAULT_MODEL}'s have "
                             f"{DLIB_EMBEDDING_SIZE}")
        return self

    @classmethod
    @contextlib.contextmanager
    def update(cls, path: str | Path, model: str | None = None, *,
               size: int | None = None) -> Iterator["Gallery"]:
        """Read-modify-write under an exclusive lock: `with Gallery.update(p, model) as g: g.add(...)`
        saves on leaving the block (not on an exception). The lock is a hidden NAME.lock file beside the
        gallery (left in place: deleting it would let a third writer lock a different file)."""
        path = cls.check_path(Path(path))
        lock_path = path.with_name(f".{path.name}.lock")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)   # as saving does: a new gallery's folder
            handle = open(lock_path, "a")
        except OSError as exc:
            raise BadInputError(f"{path}: cannot lock the gallery ({exc.strerror})") from None
        with handle:
            fcntl.flock(handle, fcntl.LOCK_EX)   # released when the handle closes
            gallery = cls.load(path, model, size=size)
            yield gallery
            gallery.save(path)

    def save(self, path: str | Path) -> Path:
        """Write the gallery atomically (a reader never sees half a file)."""
        path = self.check_path(Path(path))
        with atomic_output(path, overwrite=True) as tmp:
            if path.suffix.lower() == ".json":
                faces = [{"name": n, "source": s, "embedding": [round(float(v), 7) for v in e]}
                         for n, s, e in zip(self.names, self.sources, self.embeddings)]
                tmp.write_text(json.dumps({"model": self.model, "faces": faces}, indent=1))
            else:
                with open(tmp, "wb") as handle:
                    np.savez(handle, model=np.array(self.model), names=np.array(self.names, dtype=str),
                             embeddings=self.embeddings.astype(np.float32),
                             sources=np.array(self.sources, dtype=str))
        return path


def remove_person(path: str | Path, name: str) -> int:
    """Forget `name` in the gallery file at `path` (under its lock); returns how many embeddings went. A
    missing gallery, or a name no one has, is bad input and leaves the file as it was."""
    Gallery.load(path)   # a missing gallery is an error here, not an empty one
    with Gallery.update(path) as gallery:
        dropped = gallery.remove(name)
        if not dropped:
            raise BadInputError(f"{path}: no one named {name!r} in the gallery "
                                "(see `visiontk face gallery list`)")
    return dropped


class Enrolment:
    """Photos of one person into a gallery file: each photo's face is embedded as it comes (`add`), then all
    are written in one read-modify-write under the gallery's lock (`save`), so that a concurrent enrolment's
    people stay. The gallery (format, model, embedding size) is checked before any photo."""

    def __init__(self, gallery_path: str | Path, name: str, model=None, *, face_index: int = 0,
                 min_confidence: float = DEFAULT_MIN_CONFIDENCE, min_face: int = DEFAULT_MIN_FACE):
        from visiontk.errors import UsageError
        from visiontk.face.model import load_model

        if not name.strip() or name == UNKNOWN:
            raise UsageError(f"name: give the person a name other than {UNKNOWN!r}")
        self.path, self.name = Gallery.check_path(Path(gallery_path)), name
        self.model = load_model(model)
        Gallery.load(self.path, model=self.model.name, size=self.model.embedding_size)
        self.options = {"face_index": face_index, "min_confidence": min_confidence, "min_face": min_face}
        self.embeddings: list[np.ndarray] = []
        self.sources: list[str] = []

    def add(self, photo: str | Path | np.ndarray) -> dict:
        """Embed the photo's chosen face; returns {name, box}."""
        from visiontk.face.recognize import embed

        found = embed(photo, model=self.model, **self.options)
        self.embeddings.append(found.embedding)
        self.sources.append(str(photo) if not isinstance(photo, np.ndarray) else "")
        return {"name": self.name, "box": [round(v, 1) for v in found.face.box]}

    def save(self) -> int:
        """Add the embedded faces to the gallery; returns how many (with none, the file is left alone)."""
        if not self.embeddings:
            return 0
        with Gallery.update(self.path, model=self.model.name, size=self.model.embedding_size) as gallery:
            gallery.add_many([self.name] * len(self.embeddings), np.array(self.embeddings), self.sources)
        return len(self.embeddings)


def enroll(gallery_path: str | Path, name: str, photos, model=None, **options) -> int:
    """Add `name` to the gallery from `photos` (the chosen face of each: `Enrolment`'s options); nothing is
    written when a photo fails. Returns how many faces were enrolled."""
    job = Enrolment(gallery_path, name, model, **options)
    for photo in photos:
        job.add(photo)
    return job.save()
