"""Clustering faces into people, measured on labelled photos of many people: pairwise precision, recall
and F1 against the link distance, for the old default (average linkage over every face) and the new one
(average linkage over faces at least 40 px tall, smaller ones left unsure), on a dev split where the
default distance is chosen and a held-out split where it is only reported.

People and photos (nothing downloaded):
- the six people of ../shared/data/faces: their labelled photos, the derived high-resolution photos of
  face_bench and the hard versions of face_detect_eval (JPEG 15, blurred, dark, rotated, small);
- every person whose face is labelled in BSDS500 (benchmarks/labels/bsds_faces.json, one person per
  labelled face: no one appears in two BSDS photos, checked by eye on the merges below), each in four
  photos: a crop around the face as it is, mirrored, shrunk to 70% and saved as JPEG quality 30, and
  darkened and turned 8 degrees.

Splits, as in face_detect_eval: dev is the BSDS500 `train` people and the hard versions of the six
people's photos; held-out is the BSDS500 `test` people, the six people's own photos and the derived ones.
The tests check the six people's own photos only, so no default is read off a photo a test checks.

The BSDS people's four photos come from one picture, so their recall is easier than real photos taken
on different days; precision (never merging two people) is the figure this set is for: a hundred people,
many with faces of 30-80 pixels, whose embeddings are noisier than portraits'.

    python benchmarks/face_cluster_eval.py [--out /tmp/face_eval] [--plot docs/images/face-cluster-curve.png]

Needs the detections cached by face_detect_eval (same --out).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from face_bench import FACES, identities  # noqa: E402
from face_detect_eval import LABELS, BSDS  # noqa: E402

DISTANCES = np.round(np.arange(0.40, 0.6001, 0.005), 3)
OLD_DEFAULT = 0.48          # the default until issue 21 part 3
OLD, NEW = "old: average linkage, every face", "new: average linkage, faces >= 40 px"
TARGET_PRECISION = 0.97    # the target, which dev must keep one grid step beyond the default


def bsds_people(out: Path) -> list[tuple[Path, str]]:
    """Four photos of each labelled BSDS face, written into OUT/people."""
    out.mkdir(parents=True, exist_ok=True)
    labels = json.loads(LABELS.read_text())
    made = []
    for name, entry in sorted(labels.items()):
        split = "train" if (BSDS / "train" / name).exists() else "test"
        picture = Image.open(BSDS / split / name).convert("RGB")
        for k, box in enumerate(entry["faces"]):
            side = 2.6 * max(box[2] - box[0], box[3] - box[1])
            cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            crop = picture.crop((int(cx - side / 2), int(cy - side / 2), int(cx + side / 2), int(cy + side / 2)))
            person = f"bsds:{Path(name).stem}#{k}"
            dark = Image.fromarray((np.asarray(crop) * 0.55).astype(np.uint8)).rotate(8, Image.BICUBIC)
            small = crop.resize((max(1, round(crop.width * 0.7)), max(1, round(crop.height * 0.7))), Image.LANCZOS)
            for kind, version, quality in (("as-is", crop, 95), ("mirrored", ImageOps.mirror(crop), 95),
                                           ("small-jpeg30", small, 30), ("dark-turned", dark, 92)):
                path = out / f"{Path(name).stem}_{k}_{kind}.jpg"
                version.save(path, quality=quality)
                made.append((path, person))
    return made


def shared_people(out: Path) -> list[tuple[Path, str]]:
    from face_bench import derived_photos
    known = identities()
    made = [(FACES / name, person) for name, person in known.items() if "partial" not in name]
    made += [(d.path, known[d.source]) for d in derived_photos(out / "derived") if d.source in known]
    for path in sorted((out / "hard").glob("*.jpg")):
        source = path.stem.split("_", 1)[1]
        person = next((p for n, p in known.items() if Path(n).stem == source), None)
        if person:
            made.append((path, person))
    return made


def embed_people(photos: list[tuple[Path, str]]) -> dict:
    """The person's face in each photo: the largest, or in a BSDS crop the one nearest the crop's centre
    (a neighbour's face may be larger); photos where none is found are left out, as `face cluster`
    leaves them. Returns embeddings, people, face heights in pixels and photo paths."""
    from visiontk.face import embed_faces, load_image, load_model
    model = load_model()
    rows = []
    for path, person in photos:
        image = load_image(path)
        found = embed_faces(image, model=model)
        if person.startswith("bsds:"):
            centre = np.array(image.shape[1::-1]) / 2
            found = sorted(found, key=lambda f: np.hypot(*(np.reshape(f.face.box, (2, 2)).mean(0) - centre)))
        if found:
            rows.append((found[0].embedding, person, found[0].face.height, str(path)))
    return {"vectors": np.array([r[0] for r in rows]), "people": np.array([r[1] for r in rows]),
            "heights": np.array([r[2] for r in rows]), "paths": np.array([r[3] for r in rows])}


def split_of(person: str, path: str) -> str:
    """dev: BSDS500 `train` people and the hard versions; held-out: the rest (see the module's doc)."""
    if person.startswith("bsds:"):
        stem = person[len("bsds:"):].split("#")[0]
        return "dev" if (BSDS / "train" / f"{stem}.jpg").exists() else "held-out"
    return "dev" if Path(path).parent.name == "hard" else "held-out"


def methods(alternatives: bool = False) -> dict:
    """label -> (embeddings, heights, distance) -> cluster ids: the old and new defaults, and with
    `alternatives` the ones measured and dropped, each over the faces >= 40 px like the new default."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import pdist, squareform

    from visiontk.face.cluster import (DEFAULT_MIN_CLUSTER_FACE, NOISE, chinese_whispers, cluster_embeddings,
                                       cluster_large_faces)

    def large_only(method):
        def run(vectors, heights, distance):
            labels = np.full(len(vectors), NOISE)
            sure = heights >= DEFAULT_MIN_CLUSTER_FACE
            labels[sure] = method(vectors[sure], distance) if sure.sum() > 1 else 0
            return labels
        return run

    def complete(vectors, distance):
        return fcluster(linkage(pdist(vectors), "complete"), distance, "distance")

    def split_wide(vectors, distance):
        """Average linkage, then each cluster with two faces more than verify's 0.6 apart is split by
        complete linkage at 0.6."""
        labels = cluster_embeddings(vectors, distance)
        for cluster in set(labels.tolist()):
            members = np.nonzero(labels == cluster)[0]
            if len(members) > 1 and pdist(vectors[members]).max() > 0.6:
                labels[members] = labels.max() + complete(vectors[members], 0.6)
        return labels

    def density_scaled(vectors, distance):
        """Average linkage on distances divided by local density (HDBSCAN's idea, the other way round):
        near-duplicates (average linkage at 0.3) form a group; a face's scale is its group's mean distance
        to the 5 nearest other groups over 0.5, so that crowded regions (children) need closer faces."""
        distances = squareform(pdist(vectors))
        groups = fcluster(linkage(pdist(vectors), "average"), 0.3, "distance")
        ids = np.unique(groups)
        between = np.array([[distances[np.ix_(groups == a, groups == b)].mean() for b in ids] for a in ids])
        np.fill_diagonal(between, np.inf)
        scale = (np.sort(between, 1)[:, :5].mean(1) / 0.5)[np.searchsorted(ids, groups)]
        scaled = distances / np.sqrt(scale[:, None] * scale[None])
        return fcluster(linkage(squareform(scaled, checks=False), "average"), distance, "distance")

    def every_face(vectors, heights, distance):
        return cluster_embeddings(vectors, distance)

    found = {OLD: every_face, NEW: cluster_large_faces}
    if alternatives:
        found.update({"tried: complete linkage": large_only(complete),
                      "tried: average linkage, then split clusters wider than 0.6": large_only(split_wide),
                      "tried: Chinese whispers": large_only(chinese_whispers),
                      "tried: density-scaled average linkage": large_only(density_scaled)})
    return found


def sweep(vectors: np.ndarray, heights: np.ndarray, people: np.ndarray, alternatives: bool = False) -> dict:
    """Per method, P/R/F1 at each distance: over every face (an unsure face's pairs count as missed) and
    over the faces it clusters ("sure")."""
    from visiontk.face.cluster import NOISE, pairwise_scores
    result = {}
    for label, method in methods(alternatives).items():
        rows = []
        for distance in DISTANCES:
            labels = method(vectors, heights, float(distance))
            sure = labels != NOISE
            rows.append({"distance": float(distance), **pairwise_scores(labels, list(people)).to_dict(),
                         "sure": pairwise_scores(labels[sure], list(people[sure])).to_dict(),
                         "unsure_faces": int((~sure).sum())})
        result[label] = rows
    return result


def choose(rows: list[dict]) -> float | None:
    """The distance of best F1 (over the faces clustered) among those whose precision, and the
    precision one grid step further out, are at least TARGET_PRECISION: a margin against a merge just
    beyond the default."""
    safe = [row for row, further in zip(rows, rows[1:])
            if min(row["sure"]["precision"], further["sure"]["precision"]) >= TARGET_PRECISION]
    return max(safe, key=lambda row: (row["sure"]["f1"], -row["distance"]))["distance"] if safe else None


def merges(vectors: np.ndarray, heights: np.ndarray, people: np.ndarray, distance: float,
           method) -> list[dict]:
    """The clusters holding more than one person at `distance`: who, how many faces each, face heights."""
    from visiontk.face.cluster import NOISE
    labels = method(vectors, heights, distance)
    found = []
    for cluster in sorted(set(labels.tolist()) - {NOISE}):
        members = np.nonzero(labels == cluster)[0]
        names, counts = np.unique(people[members], return_counts=True)
        if len(names) > 1:
            found.append({"people": dict(zip(names.tolist(), counts.tolist())),
                          "heights": sorted(int(h) for h in heights[members])})
    return found


def copy_distance_by_height(vectors, heights, people, paths) -> dict:
    """How far a degraded copy of a BSDS face lands from the face as it is, by the smaller face height:
    the embedding's noise at that size (dev people only). Pixels -> (copies, median, 90th percentile)."""
    gaps = []
    for person in sorted(set(people.tolist())):
        if not person.startswith("bsds:"):
            continue
        members = np.nonzero(people == person)[0]
        original = [i for i in members if paths[i].endswith("_as-is.jpg")]
        for i in members if original else []:
            if i != original[0]:
                gap = np.linalg.norm(vectors[i] - vectors[original[0]])
                gaps.append((min(heights[i], heights[original[0]]), gap))
    table = {}
    for low, high in ((0, 40), (40, 60), (60, 100), (100, 10_000)):
        inside = [gap for height, gap in gaps if low <= height < high]
        if inside:
            table[f"{low}-{high} px"] = (len(inside), round(float(np.median(inside)), 3),
                                         round(float(np.percentile(inside, 90)), 3))
    return table


def plot(path: Path, sweeps: dict, chosen: float) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(2, 3, figsize=(12, 6.4), sharex=True, sharey=True)
    for row_axes, (split, result) in zip(axes, sweeps.items()):
        for ax, key in zip(row_axes, ("precision", "recall", "f1")):
            for (label, rows), colour in zip(result.items(), ("tab:grey", "tab:blue")):
                ax.plot(DISTANCES, [r["sure"][key] for r in rows], color=colour, label=label)
            ax.axhline(TARGET_PRECISION if key == "precision" else 0.95, color="grey", lw=0.8, ls="--")
            ax.axvline(chosen, color="tab:blue", lw=0.8, ls=":")
            ax.axvline(OLD_DEFAULT, color="tab:grey", lw=0.8, ls=":")
            ax.set(title=f"{split}: {key}", ylim=(0.5, 1.01))
            ax.grid(alpha=0.3)
    for ax in axes[-1]:
        ax.set_xlabel("cluster --max-distance")
    axes[0][0].legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def own_photos(part: dict, chosen: float) -> dict:
    """Scores of the labelled photos in ../shared/data/faces (the ones the tests check) alone, each
    method clustering the whole held-out split."""
    from visiontk.face.cluster import pairwise_scores
    own = np.array([Path(path).parent == FACES for path in part["paths"]])
    scores = {}
    for (label, method), distance in zip(methods().items(), (OLD_DEFAULT, chosen)):
        labels = method(part["vectors"], part["heights"], distance)
        scores[f"{label} at {distance}"] = pairwise_scores(labels[own], list(part["people"][own])).to_dict()
    return scores


def at_chosen(sweeps: dict) -> dict:
    """Per method: the distance `choose` picks on dev, and the dev and held-out scores there."""
    summary = {}
    for label, rows in sweeps["dev"].items():
        distance = choose(rows)
        summary[label] = {"distance": distance}
        if distance is not None:
            index = int(np.argmin(np.abs(DISTANCES - distance)))
            for split, result in sweeps.items():
                row = result[label][index]
                summary[label][split] = {**row["sure"], "unsure_faces": row["unsure_faces"]}
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/face_eval"))
    parser.add_argument("--plot", type=Path)
    parser.add_argument("--alternatives", action="store_true",
                        help="also sweep the methods tried and dropped (complete linkage, a split pass, "
                             "Chinese whispers, density-scaled distances) and print where the rule puts each")
    args = parser.parse_args()
    cache = args.out / "cluster_embeddings.npz"
    if not cache.exists():
        np.savez(cache, **embed_people(shared_people(args.out) + bsds_people(args.out / "people")))
    data = np.load(cache)
    splits = np.array([split_of(person, path) for person, path in zip(data["people"], data["paths"])])
    parts = {split: {key: data[key][splits == split] for key in ("vectors", "heights", "people", "paths")}
             for split in ("dev", "held-out")}
    sweeps = {split: sweep(part["vectors"], part["heights"], part["people"], args.alternatives)
              for split, part in parts.items()}
    chosen = choose(sweeps["dev"][NEW])
    dev = parts["dev"]
    report = {"load_average": os.getloadavg()[0], "chosen on dev": chosen,
              "dev copy distance by face height (copies, median, p90)":
                  copy_distance_by_height(dev["vectors"], dev["heights"], dev["people"], dev["paths"])}
    for split, part in parts.items():
        report[split] = {"faces": int(len(part["people"])), "people": len(set(part["people"].tolist())),
                         "sweep": sweeps[split]}
        for label, method in methods().items():
            distance = OLD_DEFAULT if label == OLD else chosen
            report[split][f"merges, {label} at {distance}"] = merges(part["vectors"], part["heights"],
                                                                    part["people"], distance, method)
    report["the six people's own photos (held-out)"] = own_photos(parts["held-out"], chosen)
    if args.alternatives:
        report["each method at the distance the rule picks on dev"] = at_chosen(sweeps)
    print(json.dumps(report))
    if args.plot:
        defaults = {split: {label: result[label] for label in (OLD, NEW)} for split, result in sweeps.items()}
        plot(args.plot, defaults, chosen)
    return 0


if __name__ == "__main__":
    sys.exit(main())
