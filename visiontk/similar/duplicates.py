"""`duplicates`: groups of copies of the same photo, and setting all but the best copy aside.

Two images are copies when either stage says so:
  hashes       any rotation/flip of one has a pHash within `hash_distance` bits of the other's
               (exact and near-exact copies, rotated and mirrored ones included)
  descriptors  their descriptors' cosine similarity is at least `threshold` (crops, borders, edits,
               overlays, where the hash changes); or at least `verify_from` and at least `min_inliers`
               local-feature matches agree on one similarity transform (similar.verify), which tells a
               crop from a look-alike. Each image is compared with its NEIGHBOURS nearest.
Groups are the connected components of those pairs. The defaults were chosen on one half of the
near-duplicate set of benchmarks/similar_bench.py and measured on the other (docs/similar.md).
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from visiontk.errors import BadInputError, VisiontkError, from_os_error
from visiontk.imageio import read_image
from visiontk.similar.engine import NearestNeighbours
from visiontk.similar.hashing import hash_neighbours
from visiontk.similar.library import Index
from visiontk.similar.search import as_index
from visiontk.similar.verify import DEFAULT_MIN_INLIERS, GeometricVerifier

DEFAULT_THRESHOLD = 0.95
DEFAULT_VERIFY_FROM = 0.60
DEFAULT_HASH_DISTANCE = 4
NEIGHBOURS = 20


@dataclass
class Pair:
    first: int                  # rows of the index, first < second
    second: int
    similarity: float           # descriptors' cosine similarity
    hash_distance: int          # fewest differing pHash bits over rotations/flips
    inliers: int | None = None  # matches agreeing on one transform, when they were counted


@dataclass
class DuplicateGroup:
    paths: list[str]            # best copy first
    keep: str                   # the best copy: most pixels, then largest file
    pairs: list[Pair]

    def set_aside(self) -> list[str]:
        return [path for path in self.paths if path != self.keep]

    def to_dict(self) -> dict:
        return {"keep": self.keep, "duplicates": self.set_aside(), "size": len(self.paths)}


def duplicate_pairs(index: Index, threshold: float = DEFAULT_THRESHOLD,
                    hash_distance: int = DEFAULT_HASH_DISTANCE, engine: str = "auto", *,
                    verify_from: float = DEFAULT_VERIFY_FROM, min_inliers: int = DEFAULT_MIN_INLIERS,
                    verifier: GeometricVerifier | None = None) -> list[Pair]:
    """Every pair of rows that either stage calls copies, each once. Pairs between `verify_from` and
    `threshold` are checked by `verifier` (which reads both images; one made here by default)."""
    found: dict[tuple[int, int], Pair] = {}
    if len(index) < 2:
        return []
    for first, second, _ in hash_neighbours(index.hashes, hash_distance):
        found[first, second] = _pair(index, first, second)
    if not index.settings.has_descriptors:
        return [found[key] for key in sorted(found)]
    scores, rows = NearestNeighbours(index.descriptors, engine).search(index.descriptors, NEIGHBOURS + 1)
    for first, (row_scores, row_ids) in enumerate(zip(scores, rows)):
        for score, second in zip(row_scores, row_ids):
            key = (min(first, int(second)), max(first, int(second)))
            if second < 0 or second == first or key in found or score < min(verify_from, threshold):
                continue
            pair = _pair(index, *key)
            if score < threshold:
                verifier = verifier or GeometricVerifier()
                pair.inliers = verifier.inliers(index.paths[key[0]], index.paths[key[1]])
                if pair.inliers < min_inliers:
                    continue
            found[key] = pair
    return [found[key] for key in sorted(found)]


def _pair(index: Index, first: int, second: int) -> Pair:
    from visiontk.similar.hashing import hamming

    vectors = index.descriptors
    similarity = float(vectors[first] @ vectors[second]) if vectors.size else float("nan")   # hashes alone
    distance = int(hamming(index.hashes[first][:, None], index.hashes[second][None, :1]).min())
    return Pair(first, second, similarity, distance)


def duplicates(index: Index | str | Path, *, threshold: float = DEFAULT_THRESHOLD,
               hash_distance: int = DEFAULT_HASH_DISTANCE, engine: str = "auto",
               verify_from: float = DEFAULT_VERIFY_FROM, min_inliers: int = DEFAULT_MIN_INLIERS
               ) -> list[DuplicateGroup]:
    """Groups of copies in the index, largest group first; in each, the best copy first."""
    index = as_index(index)
    pairs = duplicate_pairs(index, threshold, hash_distance, engine, verify_from=verify_from,
                            min_inliers=min_inliers)
    parent = list(range(len(index)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for pair in pairs:
        parent[root(pair.first)] = root(pair.second)
    members: dict[int, list[int]] = {}
    for pair in pairs:
        for row in (pair.first, pair.second):
            members.setdefault(root(row), [])
            if row not in members[root(row)]:
                members[root(row)].append(row)
    groups = []
    for rows in members.values():
        ranked = sorted(rows, key=lambda r: _quality(index, r, content_pixels(index.paths[r])), reverse=True)
        inside = [p for p in pairs if root(p.first) == root(ranked[0])]
        groups.append(DuplicateGroup([index.paths[r] for r in ranked], index.paths[ranked[0]], inside))
    return sorted(groups, key=lambda g: (-len(g.paths), g.keep))


def _quality(index: Index, row: int, content: int) -> tuple:
    """Which copy to keep: the most pixels of picture (borders left out), then the least border, then
    the largest file (less compressed), then the first path."""
    margin = int(index.widths[row]) * int(index.heights[row]) - content
    return (content, -margin, int(index.file_sizes[row]), [-ord(c) for c in index.paths[row]])


FLAT = 3.0    # a row or column of pixels whose gray levels vary less than this is a margin


def content_pixels(path: str) -> int:
    """Pixels of the picture inside flat margins (a screenshot's window, a passe-partout): a copy with
    borders has more pixels than the photo but not more picture. 0 when the file can't be read."""
    try:
        gray = read_image(path).mean(axis=2)
    except VisiontkError:
        return 0
    rows, columns = slice(0, gray.shape[0]), slice(0, gray.shape[1])
    for _ in range(2):   # a title bar above grey margins: trim the rows, then the columns, then again
        rows = _unflat(gray[:, columns].std(axis=1), rows)
        columns = _unflat(gray[rows].std(axis=0), columns)
    return (rows.stop - rows.start) * (columns.stop - columns.start)


def _unflat(spread: np.ndarray, current: slice) -> slice:
    """The span between the first and last line that is not flat, within `current`."""
    busy = np.nonzero(spread[current] >= FLAT)[0]
    if not len(busy):
        return current
    return slice(current.start + int(busy[0]), current.start + int(busy[-1]) + 1)


def set_aside(groups: list[DuplicateGroup], folder: str | Path) -> list[tuple[str, str]]:
    """Move every copy but the best of each group into `folder` (never deleting anything; a name already
    there gets a number). Returns (from, to) for each move."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise from_os_error(exc, folder) from None
    moves = []
    for group in groups:
        for path in group.set_aside():
            moves.append((path, str(_move(Path(path), folder))))
    return moves


def _move(source: Path, folder: Path) -> Path:
    if not source.is_file():
        raise BadInputError(f"{source}: no longer there; index the folder again")
    for number in range(10_000):
        name = source.name if number == 0 else f"{source.stem}-{number}{source.suffix}"
        target = folder / name
        try:
            # O_EXCL claims the name, so two runs never move onto the same file.
            os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            continue
        except OSError as exc:
            raise from_os_error(exc, target) from None
        try:
            shutil.move(str(source), str(target))   # a rename, or copy-then-remove across disks
        except OSError as exc:
            target.unlink(missing_ok=True)
            raise from_os_error(exc, source) from None
        return target
    raise BadInputError(f"{folder}: too many files named like {source.name}")

