"""Group faces nobody has named into people: Chinese whispers on the graph of faces closer than a
distance, a contact sheet per cluster, and pairwise precision/recall against known identities.

Chinese whispers (Biemann 2006, the algorithm dlib's face-clustering example uses): every face starts
as its own label; in a random order, each face takes the label most common among its neighbours (faces
at most `max_distance` apart); repeated until nothing changes. Unlike single linkage it does not chain
two people together through one in-between face, and unlike k-means it needs no number of people.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from visiontk.face.model import DEFAULT_MAX_DISTANCE

# Faces are linked when at most the same-person distance apart (0.6 for dlib's network). A lower value
# trades recall for safety, since one wrong edge can pull two people's labels together; dlib's own
# face-clustering example uses 0.5. README (face cluster, "Why 0.6") has the measured trade-off.
DEFAULT_CLUSTER_DISTANCE = DEFAULT_MAX_DISTANCE
NOISE = -1


def pairwise_distances(embeddings: np.ndarray) -> np.ndarray:
    """(N, N) Euclidean distances, from one matrix product."""
    x = np.asarray(embeddings, np.float64)
    norms = np.einsum("ij,ij->i", x, x)
    return np.sqrt(np.maximum(norms[:, None] + norms[None] - 2 * x @ x.T, 0))


def chinese_whispers(embeddings: np.ndarray, max_distance: float = DEFAULT_CLUSTER_DISTANCE, *,
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
