"""Group faces nobody has named into people, draw a contact sheet per group, and score a grouping by
pairwise precision/recall against known identities.

The default grouping is average linkage (`cluster_embeddings`): two groups join while their faces are on
average close enough. Faces too small to embed reliably are left unsure (NOISE) rather than grouped
(`cluster_large_faces`, used by `FaceClusters` and `cluster_faces`). Chinese whispers (Biemann 2006, the
algorithm of dlib's face-clustering example: each face takes the label most common among its neighbours
closer than a distance) stays available as `chinese_whispers`; on many people one close pair of faces is
enough for it to merge two people (docs/face.md has both measured).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from visiontk.errors import BadInputError
from visiontk.face.detect import DEFAULT_MIN_CONFIDENCE, DEFAULT_MIN_FACE, Face
from visiontk.face.model import DEFAULT_MAX_DISTANCE

# Two groups of faces join while their embeddings are on average at most this far apart (average
# linkage). Chosen in benchmarks/face_cluster_eval.py on its dev split (244 faces of 48 people, none a
# photo the tests check): the best F1 among distances whose precision stays >= 0.97 one grid step
# (0.005) further out; at 0.465 precision falls from 0.977 to 0.931, where two pairs of look-alike young
# monks join into one group. The old 0.48 also merged look-alike children of other photos (dlib's network
# puts many children 0.42-0.48 apart).
# docs/face.md has the sweep on dev and held-out photos.
DEFAULT_CLUSTER_DISTANCE = 0.455
# Faces shorter than this (pixels, in their photo) are left unsure (NOISE) by `FaceClusters`: on the dev
# split a degraded copy of a face under 40 px lands up to 0.55 from the original (90th percentile; 0.28-0.42
# above 40 px), as far as a different person, so such faces would join strangers.
DEFAULT_MIN_CLUSTER_FACE = 40
NOISE = -1


def pairwise_distances(embeddings: np.ndarray) -> np.ndarray:
    """(N, N) Euclidean distances, from one matrix product."""
    x = np.asarray(embeddings, np.float64)
    norms = np.einsum("ij,ij->i", x, x)
    return np.sqrt(np.maximum(norms[:, None] + norms[None] - 2 * x @ x.T, 0))


def cluster_distance(model) -> float:
    """The distance `face cluster` uses by default for `model`: DEFAULT_CLUSTER_DISTANCE for dlib's,
    the same share of its same-person distance for another model."""
    return DEFAULT_CLUSTER_DISTANCE * model.max_distance / DEFAULT_MAX_DISTANCE


def cluster_embeddings(embeddings: np.ndarray, max_distance: float = DEFAULT_CLUSTER_DISTANCE, *,
                       min_size: int = 1) -> np.ndarray:
    """A cluster id per embedding by average linkage: starting from one group per face, the two groups
    whose faces are on average nearest join, while that average is at most `max_distance`. Unlike
    Chinese whispers or single linkage, one close pair of two people's faces does not join them: their
    groups must be close on average. Ids as in chinese_whispers (0 = largest; NOISE below `min_size`).

    The nearest-neighbour chain algorithm (Murtagh 1983): O(N^2) time, one (N, N) float32 matrix."""
    count = len(embeddings)
    if count == 0:
        return np.zeros(0, int)
    distances = pairwise_distances(embeddings).astype(np.float32)
    np.fill_diagonal(distances, np.inf)
    sizes = np.ones(count)
    labels = np.arange(count)
    open_groups = set(range(count))      # groups that may still join another
    chain: list[int] = []
    while open_groups:
        if not chain:
            chain.append(min(open_groups))
        top = chain[-1]
        nearest = int(np.argmin(distances[top]))
        if distances[top, nearest] > max_distance:
            # Joins only ever raise average distances, so this group is final.
            open_groups.discard(top)
            distances[top] = distances[:, top] = np.inf
            chain.pop()
            continue
        if len(chain) > 1 and distances[top, chain[-2]] <= distances[top, nearest]:
            nearest = chain[-2]
        if len(chain) > 1 and nearest == chain[-2]:
            chain = chain[:-2]
            _join(distances, sizes, labels, top, nearest)
            open_groups.discard(nearest)
        else:
            chain.append(nearest)
    return _renumber(labels, min_size)


def cluster_large_faces(embeddings: np.ndarray, heights: np.ndarray,
                        max_distance: float = DEFAULT_CLUSTER_DISTANCE, *,
                        min_height: float = DEFAULT_MIN_CLUSTER_FACE, min_size: int = 1) -> np.ndarray:
    """`cluster_embeddings` over the faces at least `min_height` pixels tall; the smaller ones get NOISE
    (unsure) instead of joining a group their noisy embedding happens to lie near."""
    heights = np.asarray(heights, float)
    labels = np.full(len(heights), NOISE)
    sure = heights >= min_height
    if sure.any():
        labels[sure] = cluster_embeddings(np.asarray(embeddings)[sure], max_distance, min_size=min_size)
    return labels


def _join(distances: np.ndarray, sizes: np.ndarray, labels: np.ndarray, keep: int, gone: int) -> None:
    """Group `gone` joins group `keep`: the new group's distance to every other is the size-weighted
    average of the two (average linkage's update)."""
    merged = (distances[keep] * sizes[keep] + distances[gone] * sizes[gone]) / (sizes[keep] + sizes[gone])
    distances[keep] = distances[:, keep] = merged
    distances[keep, keep] = np.inf
    distances[gone] = distances[:, gone] = np.inf
    sizes[keep] += sizes[gone]
    labels[labels == gone] = keep


def chinese_whispers(embeddings: np.ndarray, max_distance: float = DEFAULT_MAX_DISTANCE, *,
                     min_size: int = 1, iterations: int = 100, seed: int = 0) -> np.ndarray:
    """A cluster id per embedding: 0 for the largest cluster, 1 for the next...; clusters of fewer
    than `min_size` faces get NOISE (-1). Deterministic for a given `seed` and input order."""
    count = len(embeddings)
    if count == 0:
        return np.zeros(0, int)
    near = pairwise_distances(embeddings) <= max_distance
    np.fill_diagonal(near, False)
    neighbours = [np.nonzero(row)[0] for row in near]
    labels = np.arange(count)
    rng = np.random.default_rng(seed)
    for _ in range(iterations):
        changed = False
        for node in rng.permutation(count):
            if not len(neighbours[node]):
                continue
            values, votes = np.unique(labels[neighbours[node]], return_counts=True)
            best = values[votes == votes.max()].min()   # ties: the smallest label, for determinism
            if best != labels[node]:
                labels[node], changed = best, True
        if not changed:
            break
    return _renumber(labels, min_size)


def _renumber(labels: np.ndarray, min_size: int) -> np.ndarray:
    """Largest cluster first (ties: the one whose first face comes first); small ones become NOISE."""
    values, first, sizes = np.unique(labels, return_index=True, return_counts=True)
    order = sorted(range(len(values)), key=lambda i: (-sizes[i], first[i]))
    out = np.full(len(labels), NOISE)
    next_id = 0
    for i in order:
        if sizes[i] >= min_size:
            out[labels == values[i]] = next_id
            next_id += 1
    return out


@dataclass
class PairScores:
    precision: float
    recall: float
    f1: float
    true_pairs: int        # pairs of the same identity
    predicted_pairs: int   # pairs put in the same cluster (noise is never a cluster)

    def to_dict(self) -> dict:
        return {"precision": round(self.precision, 4), "recall": round(self.recall, 4), "f1": round(self.f1, 4),
                "true_pairs": self.true_pairs, "predicted_pairs": self.predicted_pairs}


def pairwise_scores(clusters: np.ndarray, identities: list[str]) -> PairScores:
    """Pairwise precision (of the pairs put together, the share that are one person) and recall (of
    the pairs that are one person, the share put together)."""
    clusters = np.asarray(clusters)
    names = np.asarray(identities)
    upper = np.triu(np.ones((len(names), len(names)), bool), 1)
    together = (clusters[:, None] == clusters[None]) & (clusters[:, None] != NOISE) & upper
    same = (names[:, None] == names[None]) & upper
    hits = int((together & same).sum())
    precision = hits / together.sum() if together.sum() else 1.0
    recall = hits / same.sum() if same.sum() else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return PairScores(float(precision), float(recall), float(f1), int(same.sum()), int(together.sum()))


def contact_sheet(chips: list[np.ndarray], clusters: np.ndarray, *, thumb: int = 96,
                  per_row: int = 10) -> Image.Image:
    """One band per cluster (largest first, noise last), its faces' chips side by side, wrapping
    after `per_row`; each band is labelled with the cluster id and its size."""
    clusters = np.asarray(clusters)
    ids = sorted(set(clusters.tolist()), key=lambda c: (c == NOISE, c))
    label_height, gap = 18, 6
    bands = []
    for cluster in ids:
        members = np.nonzero(clusters == cluster)[0]
        rows = -(-len(members) // per_row)
        band = Image.new("RGB", (per_row * thumb, label_height + rows * thumb), "white")
        title = "noise" if cluster == NOISE else f"cluster {cluster}"
        ImageDraw.Draw(band).text((4, 3), f"{title}: {len(members)} face(s)", fill="black")
        for k, index in enumerate(members):
            picture = Image.fromarray(np.clip(np.round(chips[index]), 0, 255).astype(np.uint8))
            band.paste(picture.resize((thumb, thumb), Image.LANCZOS),
                       ((k % per_row) * thumb, label_height + (k // per_row) * thumb))
        bands.append(band)
    width = per_row * thumb
    height = sum(b.height for b in bands) + gap * max(len(bands) - 1, 0)
    sheet = Image.new("RGB", (width, max(height, 1)), (200, 200, 200))
    top = 0
    for band in bands:
        sheet.paste(band, (0, top))
        top += band.height + gap
    return sheet


# ---- many photos into people ----------------------------------------------------------------------------------

@dataclass
class FoundFace:
    """One face of a photo being clustered: where it came from, its detection and embedding."""

    source: str
    index: int             # its number in its photo (0 = the largest)
    face: Face
    embedding: np.ndarray
    chip: np.ndarray | None = None   # the aligned chip, kept for a contact sheet
    cluster: int = NOISE

    def to_dict(self) -> dict:
        return {"input": self.source, "face": self.index, "box": [round(v, 1) for v in self.face.box],
                "cluster": int(self.cluster)}


@dataclass
class FaceClusters:
    """Faces gathered photo by photo (`add_photo`), then grouped into people (`cluster`); the groups
    can be drawn as a contact sheet (`sheet`) and enrolled into a gallery (`enroll`)."""

    model: object = None                       # a FaceModel; None: the default one
    min_confidence: float = DEFAULT_MIN_CONFIDENCE
    min_face: int = DEFAULT_MIN_FACE
    keep_chips: bool = False
    min_cluster_face: float = DEFAULT_MIN_CLUSTER_FACE   # smaller faces are left unsure (NOISE)
    faces: list[FoundFace] = field(default_factory=list)

    def __post_init__(self) -> None:
        from visiontk.face.model import load_model
        self.model = self.model or load_model()

    def add_photo(self, image, source: str | None = None) -> int:
        """Detect and embed every face of a photo (a path or an RGB array); returns how many."""
        from visiontk.face.recognize import embed_faces, face_chips, load_image

        pixels = load_image(image)
        found = embed_faces(pixels, model=self.model, min_confidence=self.min_confidence, min_face=self.min_face)
        chips = face_chips(pixels, [item.face for item in found]) if self.keep_chips else [None] * len(found)
        name = str(source if source is not None else image if not isinstance(image, np.ndarray) else "image")
        self.faces += [FoundFace(name, i, item.face, item.embedding, chip)
                       for i, (item, chip) in enumerate(zip(found, chips))]
        return len(found)

    def cluster(self, max_distance: float | None = None, min_size: int = 1) -> np.ndarray:
        """Group the faces at least `min_cluster_face` tall (see `cluster_embeddings`), the others are
        NOISE; returns and records a cluster id per face."""
        distance = cluster_distance(self.model) if max_distance is None else max_distance
        labels = cluster_large_faces(np.array([f.embedding for f in self.faces]),
                                     np.array([f.face.height for f in self.faces]), distance,
                                     min_height=self.min_cluster_face, min_size=min_size)
        for face, label in zip(self.faces, labels):
            face.cluster = int(label)
        return labels

    def groups(self) -> dict[int, list[FoundFace]]:
        """The faces of each cluster, largest cluster first, noise last."""
        ids = sorted({f.cluster for f in self.faces}, key=lambda c: (c == NOISE, c))
        return {c: [f for f in self.faces if f.cluster == c] for c in ids}

    def sheet(self) -> Image.Image:
        return contact_sheet([f.chip for f in self.faces], np.array([f.cluster for f in self.faces]))

    def enroll(self, gallery_path: str | Path, names: dict[int, str] | None = None) -> tuple[int, int]:
        """Add clusters to a gallery: those in `names` under their name, or every cluster as cluster-N.
        Returns (faces, clusters) enrolled. A number that is no cluster of this run is bad input."""
        from visiontk.face.gallery import Gallery

        present = {f.cluster for f in self.faces if f.cluster != NOISE}
        missing = sorted(set(names or {}) - present)
        if missing:
            raise BadInputError(f"no cluster {', '.join(map(str, missing))} in this run (clusters are 0 to "
                                f"{max(present, default=-1)})")
        chosen = names or {c: f"cluster-{c}" for c in sorted(present)}
        rows = [f for f in self.faces if f.cluster in chosen]
        with Gallery.update(gallery_path, model=self.model.name, size=self.model.embedding_size) as gallery:
            gallery.add_many([chosen[f.cluster] for f in rows], np.array([f.embedding for f in rows]),
                             [f"{f.source}#{f.index}" for f in rows])
        return len(rows), len(chosen)


def cluster_faces(images, *, model=None, max_distance: float | None = None, min_size: int = 1,
                  min_confidence: float = DEFAULT_MIN_CONFIDENCE, min_face: int = DEFAULT_MIN_FACE,
                  keep_chips: bool = False,
                  min_cluster_face: float = DEFAULT_MIN_CLUSTER_FACE) -> FaceClusters:
    """Every face of `images` (paths or arrays), grouped into people: `.faces` each with its `.cluster`
    (NOISE for faces shorter than `min_cluster_face` pixels: too small to tell people apart)."""
    clusters = FaceClusters(model, min_confidence, min_face, keep_chips, min_cluster_face)
    for image in images:
        clusters.add_photo(image)
    clusters.cluster(max_distance, min_size)
    return clusters
