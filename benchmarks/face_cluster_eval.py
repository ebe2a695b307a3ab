"""Clustering faces into people, measured on labelled photos of many people: pairwise precision, recall
and F1 against the link distance, for plain Chinese whispers and for visiontk's default clustering.

People and photos (nothing downloaded):
- the six people of ../shared/data/faces: their labelled photos, the derived high-resolution photos of
  face_bench and the hard versions of face_detect_eval (JPEG 15, blurred, dark, rotated, small);
- every person whose face is labelled in BSDS500 (benchmarks/labels/bsds_faces.json, one person per
  labelled face: no one appears in two BSDS photos, checked by eye on the merges below), each in four
  photos: a crop around the face as it is, mirrored, shrunk to 70% and saved as JPEG quality 30, and
  darkened and turned 8 degrees.

The BSDS people's four photos come from one picture, so their recall is easier than real photos taken
on different days; precision (never merging two people) is the figure this set is for: a hundred people,
many with faces of 30-80 pixels, whose embeddings are noisier than portraits'.

    python benchmarks/face_cluster_eval.py [--out /tmp/face_eval] [--plot docs/images/face_cluster_curve.png]

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

DISTANCES = np.round(np.arange(0.40, 0.651, 0.01), 2)


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


def sweep(vectors: np.ndarray, people: list[str]) -> dict:
    """P/R/F1 of both methods at each distance, on everyone and on the six shared people alone."""
    from visiontk.face.cluster import chinese_whispers, cluster_embeddings, pairwise_scores
    shared = np.array([not p.startswith("bsds:") for p in people])
    result = {}
    for label, method in (("chinese whispers", chinese_whispers), ("average linkage (default)", cluster_embeddings)):
        rows, shared_rows = [], []
        for distance in DISTANCES:
            labels = method(vectors, float(distance))
            rows.append(pairwise_scores(labels, people).to_dict())
            shared_rows.append(pairwise_scores(labels[shared], list(np.array(people)[shared])).to_dict())
        result[label] = {"distances": DISTANCES.tolist(), "rows": rows, "six shared people": shared_rows}
    return result


def plot(path: Path, result: dict) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), sharey=True)
    for ax, key in zip(axes, ("precision", "recall", "f1")):
        for label, sweep_ in result.items():
            ax.plot(sweep_["distances"], [r[key] for r in sweep_["rows"]], label=label)
        ax.set(xlabel="cluster --max-distance", title=key, ylim=(0.5, 1.01))
        ax.axhline(0.97 if key == "precision" else 0.95, color="grey", lw=0.8, ls="--")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/face_eval"))
    parser.add_argument("--plot", type=Path)
    args = parser.parse_args()
    cache = args.out / "cluster_embeddings.npz"
    if not cache.exists():
        np.savez(cache, **embed_people(shared_people(args.out) + bsds_people(args.out / "people")))
    data = np.load(cache)
    vectors, people = data["vectors"], data["people"].tolist()
    result = sweep(vectors, people)
    print(json.dumps({"faces": len(people), "people": len(set(people)), "load_average": os.getloadavg()[0],
                      **{label: {f"{d:.2f}": {**r, "six shared people f1": q["f1"]}
                                 for d, r, q in zip(s["distances"], s["rows"], s["six shared people"])}
                         for label, s in result.items()}}))
    if args.plot:
        plot(args.plot, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
