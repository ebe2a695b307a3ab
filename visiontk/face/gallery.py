"""A gallery of known people: names and embeddings (several per person), kept in an .npz or .json file."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from visiontk.errors import BadInputError
from visiontk.imageio import atomic_output, check_input_file

FORMATS = (".npz", ".json")
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

    def __len__(self) -> int:
        return len(self.names)

    def people(self) -> dict[str, int]:
        """Each enrolled name with its number of embeddings."""
        counts: dict[str, int] = {}
        for name in self.names:
            counts[name] = counts.get(name, 0) + 1
        return counts

    def add(self, name: str, embedding: np.ndarray, source: str = "") -> None:
        embedding = np.asarray(embedding, np.float32).reshape(1, -1)
        if len(self) and embedding.shape[1] != self.embeddings.shape[1]:
            raise BadInputError(f"embedding has {embedding.shape[1]} values but the gallery holds "
                                f"{self.embeddings.shape[1]}")
        self.embeddings = embedding if not len(self) else np.concatenate([self.embeddings, embedding])
        self.names.append(name)
        self.sources.append(source)

    def remove(self, name: str) -> int:
        """Forget a person; returns how many embeddings were dropped."""
        keep = [i for i, n in enumerate(self.names) if n != name]
        dropped = len(self) - len(keep)
        self.names = [self.names[i] for i in keep]
        self.sources = [self.sources[i] for i in keep]
        self.embeddings = self.embeddings[keep]
        return dropped

    def identify(self, embedding: np.ndarray, threshold: float) -> Match:
        """The enrolled person nearest to `embedding`, or UNKNOWN beyond `threshold`."""
        if not len(self):
            return Match(UNKNOWN, float("inf"), "")
        distances = np.linalg.norm(self.embeddings - np.asarray(embedding)[None], axis=1)
        best = int(np.argmin(distances))
        distance = float(distances[best])
        return Match(self.names[best] if distance <= threshold else UNKNOWN, distance, self.names[best])

    # ---- files ----

    @staticmethod
    def check_path(path: Path) -> Path:
        if path.suffix.lower() not in FORMATS:
            raise BadInputError(f"{path}: a gallery file must end in .npz or .json")
        return path

    @classmethod
    def load(cls, path: str | Path, model: str | None = None) -> "Gallery":
        """Read a gallery; a missing file gives an empty gallery for `model` (when given)."""
        path = cls.check_path(Path(path))
        if not path.exists():
            if model is None:
                raise BadInputError(f"{path}: no such gallery (create it with `visiontk face enroll`)")
            return cls(model)
        check_input_file(path)  # a FIFO would block the read for ever
        try:
            if path.suffix.lower() == ".json":
                data = json.loads(path.read_text())
                people = data["faces"]
                gallery = cls(str(data["model"]))
                for item in people:
                    gallery.add(str(item["name"]), np.asarray(item["embedding"], np.float32),
                                item.get("source", ""))
            else:
                with np.load(path, allow_pickle=False) as data:
                    gallery = cls(str(data["model"]), [str(n) for n in data["names"]],
                                  data["embeddings"].astype(np.float32), [str(s) for s in data["sources"]])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise BadInputError(f"{path}: not a visiontk gallery file "
                                f"({type(exc).__name__}: {exc})") from None
        if model is not None and gallery.model != model:
            raise BadInputError(f"{path}: gallery was built with model {gallery.model!r}, not {model!r}; "
                                "use the same --model or a new gallery")
        return gallery

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
