"""`search`: the library images that look most like each query image."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from visiontk.errors import UsageError
from visiontk.similar.describe import Describer, read_shrunk
from visiontk.similar.engine import NearestNeighbours
from visiontk.similar.library import Index, load_index


@dataclass
class Hit:
    path: str
    similarity: float    # cosine similarity of the descriptors, 1 = the same picture

    def to_dict(self) -> dict:
        return {"path": self.path, "similarity": round(self.similarity, 4)}


@dataclass
class QueryResult:
    query: str
    hits: list[Hit]

    def to_dict(self) -> dict:
        return {"query": self.query, "results": [hit.to_dict() for hit in self.hits]}


def as_index(index: Index | str | Path) -> Index:
    return index if isinstance(index, Index) else load_index(index)


def search(index: Index | str | Path, queries: Sequence[str | Path | np.ndarray], k: int = 10, *,
           engine: str | NearestNeighbours = "auto", describer: Describer | None = None) -> list[QueryResult]:
    """The k most similar library images for each query (an image file or a uint8 RGB array), best
    first. A query that is itself in the index does not find itself. `engine`: auto, exact, hnsw, ivf
    (see similar.engine), or a NearestNeighbours built once for many calls."""
    index = as_index(index)
    if not index.settings.has_descriptors:
        raise UsageError("this index holds hashes alone (`backbone` none), which find copies but can't "
                         "rank look-alikes; index again with a backbone (e.g. vgg16) to search")
    describer = describer or Describer(index.settings)
    # Read as the index read its images, so that a library image finds itself at similarity 1.
    images = [query if isinstance(query, np.ndarray) else read_shrunk(query, describer.read_side)[0]
              for query in queries]
    names = [f"<array {i}>" if isinstance(q, np.ndarray) else str(q) for i, q in enumerate(queries)]
    return search_vectors(index, describer.describe_arrays(images), names, k, engine=engine)


def search_vectors(index: Index, vectors: np.ndarray, names: list[str], k: int, *,
                   engine: str | NearestNeighbours = "auto") -> list[QueryResult]:
    """`search` for descriptors already made (same settings as the index's)."""
    if not len(index) or not len(vectors):
        return [QueryResult(name, []) for name in names]
    neighbours = (engine if isinstance(engine, NearestNeighbours)
                  else NearestNeighbours(index.descriptors, engine))
    scores, rows = neighbours.search(vectors, k + 1)   # one more, in case a query finds itself
    results = []
    for name, row_scores, row_ids in zip(names, scores, rows):
        itself = str(Path(name).resolve()) if not name.startswith("<") else None
        hits = [Hit(index.paths[i], float(s)) for s, i in zip(row_scores, row_ids)
                if i >= 0 and index.paths[i] != itself]
        results.append(QueryResult(name, hits[:k]))
    return results
