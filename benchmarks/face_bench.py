"""Face benchmark: verification accuracy on ../shared/data/faces/pairs.csv, and the throughput of
detection + alignment + embedding, against ageitgey's face_recognition (dlib, HOG detector) on the same
decoded images in the same run.

    python benchmarks/face_bench.py [--repeats 2] [--json]

Prints the figures; asserts nothing about time (see the README for the measured numbers).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FACES = Path(os.environ.get("VISIONTK_SHARED", ROOT.parent / "shared")) / "data" / "faces"


def read_pairs() -> list[tuple[str, str, bool]]:
    with open(FACES / "pairs.csv") as handle:
        return [(r["file_x"], r["file_y"], r["same"] == "yes") for r in csv.DictReader(handle)]


def pair_accuracy(vectors: dict[str, np.ndarray | None], pairs, threshold: float) -> dict:
    correct, distances = 0, {True: [], False: []}
    for a, b, same in pairs:
        if vectors[a] is None or vectors[b] is None:
            continue  # a missed face counts as a wrong answer
        distance = float(np.linalg.norm(vectors[a] - vectors[b]))
        distances[same].append(distance)
        correct += (distance <= threshold) == same
    return {"accuracy": correct / len(pairs), "correct": correct, "pairs": len(pairs),
            "max_same": max(distances[True]), "min_different": min(distances[False])}


def visiontk_pipeline(images: dict[str, np.ndarray], min_face: int = 20) -> dict[str, np.ndarray | None]:
    """Detect and align every image, then embed all chips in batches."""
    from visiontk.face import detect_faces, face_chips, load_model
    model = load_model()
    chips, owners = [], []
    for name, image in images.items():
        faces = detect_faces(image, min_face=min_face)
        if faces:
            chips.append(face_chips(image, faces[:1])[0])
            owners.append(name)
    vectors = dict.fromkeys(images)
    vectors.update(zip(owners, model.embed_chips(np.stack(chips))))
    return vectors


def face_recognition_pipeline(images: dict[str, np.ndarray]) -> dict[str, np.ndarray | None]:
    """face_recognition's defaults: HOG detector (upsampled once), 5-point landmarks, one jitter."""
    import face_recognition
    vectors = {}
    for name, image in images.items():
        boxes = face_recognition.face_locations(image)
        if not boxes:
            vectors[name] = None
            continue
        largest = max(boxes, key=lambda b: (b[2] - b[0]) * (b[1] - b[3]))
        vectors[name] = face_recognition.face_encodings(image, [largest])[0]
    return vectors


def embedding_throughput(count: int = 128) -> dict:
    """The Keras ResNet alone on aligned chips, in batches of 32."""
    from visiontk.face import load_model
    model = load_model()
    chips = np.random.default_rng(0).integers(0, 256, (count, 150, 150, 3)).astype(np.float32)
    model.embed_chips(chips[:32])
    started, cpu_started = time.perf_counter(), time.process_time()
    model.embed_chips(chips)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return {"chips_per_second": round(count / seconds, 1), "cpu_seconds_per_chip": round(cpu / count, 4)}


def timed(pipeline, images, repeats: int) -> tuple[dict, float, float]:
    """(result, wall seconds per pass, CPU seconds per pass): on a shared machine the CPU time, summed
    over all threads, is the steadier measure of the work done."""
    pipeline(images)  # warm-up: loading models, tracing graphs
    started, cpu_started = time.perf_counter(), time.process_time()
    for _ in range(repeats):
        vectors = pipeline(images)
    return vectors, (time.perf_counter() - started) / repeats, (time.process_time() - cpu_started) / repeats


def speed(images: dict, seconds: float, cpu_seconds: float) -> dict:
    return {"seconds_per_pass": round(seconds, 2), "images_per_second": round(len(images) / seconds, 2),
            "cpu_seconds_per_image": round(cpu_seconds / len(images), 3)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2,
                        help="timed passes over the images (after a warm-up)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    from visiontk.face import load_image
    pairs = read_pairs()
    names = sorted({a for a, _, _ in pairs} | {b for _, b, _ in pairs})
    images = {name: load_image(FACES / name) for name in names}
    megapixels = sum(im.shape[0] * im.shape[1] for im in images.values()) / 1e6

    results = {"images": len(images), "megapixels": round(megapixels, 1), "pairs": len(pairs),
               "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()}
    for label, min_face in (("visiontk", 20), ("visiontk_min_face_40", 40)):
        # --min-face 40 searches faces down to about the size HOG finds with one upsampling.
        ours, seconds, cpu = timed(lambda ims: visiontk_pipeline(ims, min_face), images, args.repeats)
        results[label] = {**pair_accuracy(ours, pairs, 0.6), **speed(images, seconds, cpu),
                          "min_face": min_face,
                          "detector": "MTCNN", "embedding": "dlib ResNet rebuilt in Keras"}
    results["embedding_only"] = embedding_throughput()
    try:
        theirs, seconds, cpu = timed(face_recognition_pipeline, images, args.repeats)
    except ImportError:
        results["face_recognition"] = "not installed (pip install dlib-bin face_recognition --no-deps)"
    else:
        results["face_recognition"] = {**pair_accuracy(theirs, pairs, 0.6), **speed(images, seconds, cpu),
                                       "detector": "HOG (dlib)", "embedding": "dlib ResNet (C++)"}
    if args.json:
        print(json.dumps(results))
        return 0
    print(f"{len(images)} photos ({megapixels:.1f} megapixels), {len(pairs)} pairs, "
          f"{results['cores']} CPU cores")
    e = results["embedding_only"]
    print(f"{'embedding only':20s} {e['chips_per_second']:.1f} chips/s in batches of 32, "
          f"{e['cpu_seconds_per_chip']:.4f} CPU s per chip")
    for name in ("visiontk", "visiontk_min_face_40", "face_recognition"):
        r = results[name]
        if isinstance(r, str):
            print(f"{name:20s} {r}")
            continue
        print(f"{name:20s} accuracy {r['accuracy']:.4f} ({r['correct']}/{r['pairs']}) at 0.6, "
              f"same <= {r['max_same']:.3f}, different >= {r['min_different']:.3f}; "
              f"{r['images_per_second']:.2f} images/s ({r['seconds_per_pass']:.1f} s per pass), "
              f"{r['cpu_seconds_per_image']:.3f} CPU s per image")
    return 0


if __name__ == "__main__":
    sys.exit(main())
