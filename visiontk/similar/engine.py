"""Nearest neighbours by inner product of unit vectors (= cosine similarity): exact in NumPy for small
libraries, faiss (the optional `similar` extra, faiss-cpu) for large ones.

`auto` picks by the number of vectors N:
  N < EXACT_LIMIT (50,000)      exact: one matrix product per block of queries, NumPy
  N < HNSW_LIMIT (500,000)      faiss HNSW graph, M=32 links, efConstruction=80, efSearch=128
  otherwise                     faiss IVF-Flat, nlist = 4*sqrt(N) lists (k-means, 10 iterations on 64
                                points per list), nprobe = max(16, nlist/64) lists searched per query
Both faiss indexes are approximate: they return the exact scores of the neighbours they find, and
miss a few (recall@10 is measured in benchmarks/similar_bench.py). Without faiss, `auto` stays exact.
"""
from __future__ import annotations

import importlib.util
import logging
import math

import numpy as np

from visiontk.errors import UsageError

log = logging.getLogger("visiontk")

ENGINES = ("auto", "exact", "hnsw", "ivf")
EXACT_LIMIT = 50_000
HNSW_LIMIT = 500_000
HNSW_LINKS, HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH = 32, 80, 128
IVF_TRAINING_POINTS, IVF_ITERATIONS = 64, 10   # k-means: points per list, iterations
QUERY_BLOCK = 1024


def faiss_available() -> bool:
    return importlib.util.find_spec("faiss") is not None


def choose_engine(count: int, engine: str = "auto") -> str:
    if engine not in ENGINES:
        raise UsageError(f"unknown engine {engine!r}: use {', '.join(ENGINES)}")
    if engine != "auto":
        if engine != "exact" and not faiss_available():
            raise UsageError(f"`engine` {engine} needs faiss: pip install 'visiontk[similar]' (faiss-cpu)")
        return engine
    if count < EXACT_LIMIT:
        return "exact"
    if not faiss_available():
        log.info("%d vectors: exact search; install faiss-cpu (the `similar` extra) for a faster one", count)
        return "exact"
    return "hnsw" if count < HNSW_LIMIT else "ivf"


class NearestNeighbours:
    """An engine over (N, D) unit vectors: `search(queries, k)` -> (scores, rows), both (Q, k), best first;
    rows are -1 (score -inf) where fewer than k were found."""

    def __init__(self, vectors: np.ndarray, engine: str = "auto") -> None:
        self.vectors = np.ascontiguousarray(vectors, np.float32)
        self.engine = choose_engine(len(self.vectors), engine)
        self._faiss = None if self.engine == "exact" else _faiss_index(self.vectors, self.engine)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = np.ascontiguousarray(np.atleast_2d(queries), np.float32)
        k = min(k, len(self.vectors))
        if k == 0:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        if self._faiss is not None:
            scores, rows = self._faiss.search(queries, k)
            return scores, rows.astype(np.int64)
        return exact_search(self.vectors, queries, k)

    def describe(self) -> str:
        if self.engine == "hnsw":
            return f"faiss HNSW (M={HNSW_LINKS}, efSearch={HNSW_EF_SEARCH})"
        if self.engine == "ivf":
            return f"faiss IVF-Flat (nlist={self._faiss.nlist}, nprobe={self._faiss.nprobe})"
        return "exact (NumPy)"


def exact_search(vectors: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k largest inner products of each query, by blocks of queries (memory: block x N floats)."""
    all_scores, all_rows = [], []
    for start in range(0, len(queries), QUERY_BLOCK):
        similarity = queries[start:start + QUERY_BLOCK] @ vectors.T
        rows = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        scores = np.take_along_axis(similarity, rows, axis=1)
        order = np.argsort(-scores, axis=1, kind="stable")
        all_rows.append(np.take_along_axis(rows, order, axis=1))
        all_scores.append(np.take_along_axis(scores, order, axis=1))
    return np.concatenate(all_scores), np.concatenate(all_rows).astype(np.int64)


def _faiss_index(vectors: np.ndarray, engine: str):
    import faiss

    count, dimensions = vectors.shape
    if engine == "hnsw":
        index = faiss.IndexHNSWFlat(dimensions, HNSW_LINKS, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.add(vectors)
        index.hnsw.efSearch = HNSW_EF_SEARCH
        return index
    lists = ivf_lists(count)
    quantizer = faiss.IndexFlatIP(dimensions)
    index = faiss.IndexIVFFlat(quantizer, dimensions, lists, faiss.METRIC_INNER_PRODUCT)
    index.cp.max_points_per_centroid = IVF_TRAINING_POINTS   # faiss samples the training set itself
    index.cp.niter = IVF_ITERATIONS
    index.train(vectors)
    index.add(vectors)
    index.nprobe = max(16, lists // 64)
    return index


def ivf_lists(count: int) -> int:
    """IVF's number of lists: about 4*sqrt(N) (faiss' guideline), at least 1, at most N/39 so that
    k-means has its 39 training points per list."""
    return int(max(1, min(round(4 * math.sqrt(count)), count // 39)))
