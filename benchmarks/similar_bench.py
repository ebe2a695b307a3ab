"""Near-duplicate detection and image search: visiontk similar against perceptual hashes (imagehash's
phash, dhash, whash, ahash: the hash methods of imagededup, whose pip install pulls in PyTorch and
which is therefore not installed here), in the same run, on a derived near-duplicate set; and the
nearest-neighbour engines on synthetic vectors.

The set: photos of BSDS500 (../shared/data/sr-train/bsds500, which the method was not tuned on), each
original with 8 edited copies (resize, JPEG 30-90, crop to 60-90%, horizontal flip, 90/180/270-degree
rotation, brightness/contrast, a text overlay, a screenshot-style border), mixed with distractor photos.
Split A (tune: every method's thresholds are chosen there, for the best pair F1) and split B (report)
use different photos.

Metric: duplicate pairs. Every method's matched pairs are closed into groups (connected components),
as `visiontk similar dupes` reports them; a predicted pair is two images in one group, a true pair two
images of one family. Per edit kind, the pairs that involve a copy of that kind. Retrieval: each
original queries the rest of its split; relevant = its 8 copies; mean average precision.

    nice python benchmarks/similar_bench.py [--families 40] [--distractors 80] [--json]
    nice python benchmarks/similar_bench.py --engines [--vectors 1000000]

Prints the figures; asserts nothing (docs/similar.md holds the measured numbers).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFont

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("VISIONTK_SHARED", ROOT.parent / "shared"))
BSDS = SHARED / "data" / "sr-train" / "bsds500"
EDITS = ("resize", "jpeg", "crop", "flip", "rotate", "tone", "text", "border")


# ---- the derived set -----------------------------------------------------------------------------------

@dataclass
class Item:
    path: Path
    family: int      # -1: a distractor
    kind: str        # "original", one of EDITS, or "distractor"


def edit(image: Image.Image, kind: str, rng: np.random.Generator) -> tuple[Image.Image, int]:
    """The edited copy and the JPEG quality to save it at."""
    width, height = image.size
    if kind == "resize":
        scale = rng.uniform(0.4, 0.8)
        return image.resize((round(width * scale), round(height * scale)), Image.LANCZOS), 90
    if kind == "jpeg":
        return image, int(rng.integers(30, 91))
    if kind == "crop":
        keep = rng.uniform(0.6, 0.9)
        w, h = round(width * keep), round(height * keep)
        left, top = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
        return image.crop((left, top, left + w, top + h)), 90
    if kind == "flip":
        return image.transpose(Image.FLIP_LEFT_RIGHT), 90
    if kind == "rotate":
        return image.rotate(int(rng.choice([90, 180, 270])), expand=True), 90
    if kind == "tone":
        image = ImageEnhance.Brightness(image).enhance(rng.uniform(0.7, 1.3))
        return ImageEnhance.Contrast(image).enhance(rng.uniform(0.7, 1.3)), 90
    if kind == "text":
        image = image.copy()
        draw = ImageDraw.Draw(image)
        font = ImageFont.truetype("DejaVuSans.ttf", max(12, height // 12))
        where = (int(rng.integers(5, width // 3)), int(rng.integers(5, height * 2 // 3)))
        draw.text(where, "© holiday 2024", fill=(255, 255, 255), font=font, stroke_width=2,
                  stroke_fill=(0, 0, 0))
        return image, 90
    if kind == "border":   # a screenshot: the photo in a window with a title bar and margins
        margin, bar = round(width * rng.uniform(0.06, 0.15)), round(height * 0.08)
        canvas = Image.new("RGB", (width + 2 * margin, height + 2 * margin + bar), (236, 236, 236))
        ImageDraw.Draw(canvas).rectangle([0, 0, canvas.width, bar], fill=(60, 60, 70))
        canvas.paste(image, (margin, margin + bar))
        return canvas, 90
    raise ValueError(kind)


def make_split(photos: list[Path], families: int, distractors: int, folder: Path, seed: int) -> list[Item]:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    items = []
    for family, photo in enumerate(photos[:families]):
        image = Image.open(photo).convert("RGB")
        items.append(Item(photo, family, "original"))
        for kind in EDITS:
            copy, quality = edit(image, kind, rng)
            path = folder / f"{photo.stem}_{kind}.jpg"
            copy.save(path, quality=quality)
            items.append(Item(path, family, kind))
    items += [Item(photo, -1, "distractor") for photo in photos[families:families + distractors]]
    return items


# ---- scoring -------------------------------------------------------------------------------------------

def groups_of(count: int, pairs) -> np.ndarray:
    """Component label of each image under the matched pairs (union-find)."""
    parent = np.arange(count)

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in pairs:
        parent[root(i)] = root(j)
    return np.array([root(i) for i in range(count)])


def pair_scores(items: list[Item], labels: np.ndarray) -> dict:
    """Pair precision/recall/F1 overall and per edit kind."""
    family = np.array([it.family for it in items])
    kinds = np.array([it.kind for it in items])
    upper = np.triu(np.ones((len(items), len(items)), bool), 1)
    truth = (family[:, None] == family[None]) & (family[:, None] >= 0) & upper
    predicted = (labels[:, None] == labels[None]) & upper
    rows = {"all": _prf(truth, predicted)}
    for kind in EDITS:
        involved = (kinds[:, None] == kind) | (kinds[None] == kind)
        rows[kind] = _prf(truth & involved, predicted & involved)
    return rows


def _prf(truth: np.ndarray, predicted: np.ndarray) -> dict:
    hits = int((truth & predicted).sum())
    precision = hits / predicted.sum() if predicted.sum() else 1.0
    recall = hits / truth.sum() if truth.sum() else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {name: round(float(value), 3) for name, value in
            (("precision", precision), ("recall", recall), ("f1", f1))}


def mean_average_precision(items: list[Item], similarity: np.ndarray) -> float:
    """Each original queries all other images of the split (higher similarity first)."""
    family = np.array([it.family for it in items])
    precisions = []
    for q, item in enumerate(items):
        if item.kind != "original":
            continue
        order = [i for i in np.argsort(-similarity[q], kind="stable") if i != q]
        relevant = family[order] == item.family
        hits = np.cumsum(relevant)
        precisions.append(float(np.sum(hits[relevant] / (np.nonzero(relevant)[0] + 1)) / relevant.sum()))
    return round(float(np.mean(precisions)), 3)


# ---- methods -------------------------------------------------------------------------------------------

def hamming_matrix(hashes: np.ndarray) -> np.ndarray:
    return np.bitwise_count(hashes[:, None] ^ hashes[None]).astype(np.int32)


def hash_labels(distances: np.ndarray, max_distance: int) -> np.ndarray:
    return groups_of(len(distances), zip(*np.nonzero(np.triu(distances <= max_distance, 1))))


def peer_hashes(items: list[Item]) -> tuple[dict[str, np.ndarray], float]:
    import imagehash

    functions = {"phash": imagehash.phash, "dhash": imagehash.dhash, "whash": imagehash.whash,
                 "ahash": imagehash.average_hash}
    out = {name: [] for name in functions}
    started = time.perf_counter()
    for item in items:
        with Image.open(item.path) as image:
            image.load()
            for name, function in functions.items():
                out[name].append(int(str(function(image)), 16))
    seconds = time.perf_counter() - started
    return {name: np.array(values, np.uint64) for name, values in out.items()}, seconds


def describe_split(items: list[Item], describer) -> dict:
    """visiontk's hashes and per-pooling descriptors, with the time each stage took."""
    from visiontk.backbones.descriptors import POOLINGS, pool
    from visiontk.similar.describe import read_shrunk
    from visiontk.similar.hashing import perceptual_hashes

    started = time.perf_counter()
    images = [read_shrunk(item.path, describer.read_side)[0] for item in items]   # as `index` reads them
    hashes = np.stack([perceptual_hashes(image) for image in images])
    hash_seconds = time.perf_counter() - started
    describer.network  # loaded before the clock starts
    started = time.perf_counter()
    maps = describer.feature_maps(images)
    pooled = {p: np.concatenate([pool(m, p) for m in maps]) for p in POOLINGS}
    cnn_seconds = time.perf_counter() - started
    sizes = [read_shrunk(item.path, describer.read_side)[1] for item in items]
    return {"hashes": hashes, "descriptors": pooled, "hash_seconds": hash_seconds,
            "cnn_seconds": cnn_seconds, "sizes": sizes}


def cached(path: Path | None, compute) -> dict:
    """describe_split's result, from `path` when it holds one (the set is the same for the same seed and
    sizes: the network's slow pass runs once while the grouping is studied)."""
    from visiontk.backbones.descriptors import POOLINGS

    if path and path.exists():
        with np.load(path) as saved:
            return {"hashes": saved["hashes"], "sizes": [tuple(s) for s in saved["sizes"]],
                    "descriptors": {p: saved[p] for p in POOLINGS},
                    "hash_seconds": float(saved["hash_seconds"]), "cnn_seconds": float(saved["cnn_seconds"])}
    result = compute()
    if path:
        np.savez(path, hashes=result["hashes"], sizes=np.array(result["sizes"]), **result["descriptors"],
                 hash_seconds=result["hash_seconds"], cnn_seconds=result["cnn_seconds"])
    return result


def our_index(items: list[Item], described: dict, descriptors: np.ndarray):
    from visiontk.similar.library import Index, Settings

    return Index(Settings(), paths=[str(it.path) for it in items], sha256=[""] * len(items),
                 file_sizes=np.array([it.path.stat().st_size for it in items], np.int64),
                 mtimes=np.zeros(len(items), np.int64),
                 widths=np.array([w for w, _ in described["sizes"]], np.int32),
                 heights=np.array([h for _, h in described["sizes"]], np.int32),
                 descriptors=descriptors, hashes=described["hashes"])


def our_labels(index, setting: dict, verifier=None) -> np.ndarray:
    from visiontk.similar import duplicate_pairs

    pairs = duplicate_pairs(index, engine="exact", verifier=verifier, **setting)
    return groups_of(len(index), [(p.first, p.second) for p in pairs])


def whitening(train: np.ndarray, dimensions: int | None = None):
    """PCA-whitening learned on `train` descriptors: centre, rotate, scale by 1/sqrt(eigenvalue)."""
    from visiontk.backbones.descriptors import l2_normalize

    mean = train.mean(axis=0)
    _, singular, vt = np.linalg.svd(train - mean, full_matrices=False)
    keep = dimensions or len(singular)
    projection = vt[:keep].T / np.maximum(singular[:keep], 1e-6)
    return lambda x: l2_normalize((x - mean) @ projection)


# ---- the near-duplicate comparison --------------------------------------------------------------------

def near_duplicates(args) -> dict:
    from visiontk import similar
    from visiontk.similar import Describer, Settings

    photos = sorted((BSDS / "train").glob("*.jpg")) + sorted((BSDS / "test").glob("*.jpg"))
    rng = np.random.default_rng(args.seed)
    photos = [photos[i] for i in rng.permutation(len(photos))]
    tune_count = args.tune_families + args.tune_distractors
    work = Path(tempfile.mkdtemp(prefix="similar_bench_"))
    splits = {"tune": make_split(photos[:tune_count], args.tune_families, args.tune_distractors,
                                 work / "tune", args.seed),
              "report": make_split(photos[tune_count:], args.families, args.distractors, work / "report",
                                   args.seed + 1)}
    describer = Describer(Settings(size=args.size))
    described = {name: cached(args.cache and Path(f"{args.cache}.{name}.npz"),
                              lambda items=items: describe_split(items, describer))
                 for name, items in splits.items()}
    peers = {name: peer_hashes(items) for name, items in splits.items()}
    families = {"tune": args.tune_families, "report": args.families}
    results: dict = {"set": {name: {"images": len(items), "families": families[name]}
                             for name, items in splits.items()}}

    # Peers: one Hamming threshold each, chosen on the tune split.
    methods = {}
    for peer in peers["tune"][0]:
        distances = {name: hamming_matrix(peers[name][0][peer]) for name in splits}
        best = max(range(0, 25), key=lambda t: pair_scores(
            splits["tune"], hash_labels(distances["tune"], t))["all"]["f1"])
        labels = hash_labels(distances["report"], best)
        methods[f"imagehash {peer}"] = {"setting": f"distance <= {best}",
                                        "pairs": pair_scores(splits["report"], labels),
                                        "mAP": mean_average_precision(splits["report"], -distances["report"])}

    # visiontk: descriptor threshold and hash distance chosen together on the tune split.
    index_of = {name: our_index(splits[name], described[name], described[name]["descriptors"]["gem"])
                for name in splits}
    from visiontk.similar.verify import GeometricVerifier

    verifier = GeometricVerifier()   # remembers features and pairs across the grid
    grid = [{"threshold": t, "verify_from": v, "min_inliers": m, "hash_distance": h}
            for t in (0.85, 0.9, 0.95) for v in (0.5, 0.6, 0.7) for m in (10, 15, 20, 25) for h in (4, 8)]
    tuned = [pair_scores(splits["tune"], our_labels(index_of["tune"], setting, verifier))["all"]["f1"]
             for setting in grid]
    # The best F1; among equals, the strictest setting.
    best = max(range(len(grid)), key=lambda i: (tuned[i], grid[i]["threshold"], grid[i]["min_inliers"]))
    setting = grid[best]
    started = time.perf_counter()
    labels = our_labels(index_of["report"], setting)
    dupes_seconds = time.perf_counter() - started
    gem_report = described["report"]["descriptors"]["gem"]
    methods["visiontk similar"] = {"setting": ", ".join(f"{k} {v}" for k, v in setting.items()),
                                   "pairs": pair_scores(splits["report"], labels),
                                   "mAP": mean_average_precision(splits["report"], gem_report @ gem_report.T)}
    # Without geometric verification: the threshold tuned again, alone.
    plain = [{**setting, "threshold": t, "verify_from": t} for t in np.arange(0.60, 0.99, 0.01).round(2)]
    plain_f1 = [pair_scores(splits["tune"], our_labels(index_of["tune"], s))["all"]["f1"] for s in plain]
    unverified = plain[int(np.argmax(plain_f1))]
    without = our_labels(index_of["report"], unverified)
    methods["visiontk, no verification"] = {"setting": f"threshold {unverified['threshold']}, hash distance "
                                                       f"{unverified['hash_distance']}",
                                            "pairs": pair_scores(splits["report"], without), "mAP": None}
    hash_only = our_labels(index_of["report"], {**setting, "threshold": 1.01, "verify_from": 1.01})
    methods["visiontk hash stage only"] = {"setting": f"hash distance <= {setting['hash_distance']}",
                                           "pairs": pair_scores(splits["report"], hash_only), "mAP": None}
    results["methods"] = methods

    # Poolings and PCA-whitening (learned on the tune split), by retrieval mAP on the report split.
    variants = {}
    for pooling, vectors in described["report"]["descriptors"].items():
        variants[pooling] = mean_average_precision(splits["report"], vectors @ vectors.T)
        white = whitening(described["tune"]["descriptors"][pooling])(vectors)
        variants[f"{pooling} + PCA-whitening"] = mean_average_precision(splits["report"], white @ white.T)
    results["retrieval_mAP_by_descriptor"] = variants

    report = described["report"]
    count = len(splits["report"])
    hashes_only = similar.index([item.path for item in splits["report"]], backbone="none")
    results["speed"] = {
        "visiontk index --backbone none images/s": hashes_only.to_dict()["images_per_second"],
        "visiontk read for the network + 8 hashes images/s": round(count / report["hash_seconds"], 1),
        "visiontk dupes on the indexed split, s": round(dupes_seconds, 1),
        "visiontk cnn images/s": round(count / report["cnn_seconds"], 2),
        "imagehash 4 hashes images/s": round(count / peers["report"][1], 1),
        "cnn input long side": args.size, "cpu threads": os.cpu_count()}
    return results


# ---- engines on synthetic vectors ---------------------------------------------------------------------

def synthetic(count: int, dimensions: int, seed: int) -> np.ndarray:
    """Unit vectors around count/100 random centres (descriptors of photo libraries cluster)."""
    from visiontk.backbones.descriptors import l2_normalize

    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(1, count // 100), dimensions)).astype(np.float32)
    out = np.empty((count, dimensions), np.float32)
    for start in range(0, count, 100_000):
        n = min(100_000, count - start)
        picks = rng.integers(0, len(centres), n)
        out[start:start + n] = l2_normalize(centres[picks] + 0.8 * rng.standard_normal((n, dimensions),
                                                                                        np.float32))
    return out


def engines(args) -> dict:
    import resource

    from visiontk.backbones.descriptors import l2_normalize
    from visiontk.similar.engine import NearestNeighbours, exact_search

    results = {}
    for count, engine in ((args.vectors, "ivf"), (args.hnsw_vectors, "hnsw")):
        vectors = synthetic(count, 512, args.seed)
        rng = np.random.default_rng(args.seed + 7)
        queries = l2_normalize(vectors[rng.integers(0, count, args.queries)]
                               + 0.02 * rng.standard_normal((args.queries, 512), np.float32))
        started = time.perf_counter()
        _, truth = exact_search(vectors, queries, 10)
        exact_ms = (time.perf_counter() - started) / args.queries * 1000
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        neighbours = NearestNeighbours(vectors, engine)
        build = time.perf_counter() - started
        latencies = []
        found = []
        for query in queries:
            started = time.perf_counter()
            _, rows = neighbours.search(query[None], 10)
            latencies.append((time.perf_counter() - started) * 1000)
            found.append(rows[0])
        recall = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth)])
        results[f"{count} vectors, {neighbours.describe()}"] = {
            "build_s": round(build, 1), "p50_query_ms": round(float(np.median(latencies)), 2),
            "exact_numpy_query_ms": round(exact_ms, 1), "recall@10": round(float(recall), 3),
            "vectors_MB": round(vectors.nbytes / 2**20), "peak_rss_growth_MB":
                round((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024)}
        del neighbours, vectors
    return results


def print_table(results: dict) -> None:
    if "methods" in results:
        print("duplicate pairs on the report split:", results["set"])
        header = f"{'method':26} {'setting':70} {'mAP':>5}  " + " ".join(f"{k:>7}" for k in ("all", *EDITS))
        print(header + "   (F1; P/R for all)")
        for name, row in results["methods"].items():
            f1 = " ".join(f"{row['pairs'][k]['f1']:7.3f}" for k in ("all", *EDITS))
            overall = row["pairs"]["all"]
            print(f"{name:26} {row['setting']:70} {row['mAP'] if row['mAP'] is not None else '-':>5}  {f1}"
                  f"   P {overall['precision']:.3f} R {overall['recall']:.3f}")
        print("retrieval mAP by descriptor:", results["retrieval_mAP_by_descriptor"])
        print("speed:", results["speed"])
    for name, row in results.get("engines", {}).items():
        print(name, row)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", type=int, default=40)
    parser.add_argument("--distractors", type=int, default=80)
    parser.add_argument("--tune-families", type=int, default=20)
    parser.add_argument("--tune-distractors", type=int, default=40)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--engines", action="store_true", help="only the engines on synthetic vectors")
    parser.add_argument("--vectors", type=int, default=1_000_000)
    parser.add_argument("--hnsw-vectors", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--cache", help="keep the split's hashes and descriptors in CACHE.SPLIT.npz, and "
                                        "read them from there when present")
    args = parser.parse_args()
    results = {"engines": engines(args)} if args.engines else near_duplicates(args)
    print(json.dumps(results) if args.json else "", end="\n" if args.json else "")
    if not args.json:
        print_table(results)


if __name__ == "__main__":
    main()
