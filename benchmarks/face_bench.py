"""Face benchmark: detection recall, pair accuracy and speed of visiontk against ageitgey's
face_recognition (dlib: HOG detector, ResNet embedding) on the same decoded images in the same run, on
two sets:

- `shared`: the photos of ../shared/data/faces and all 153 pairs of its pairs.csv;
- `derived`: high-resolution photos made from them (portraits enlarged 3-6x with Lanczos, tight crops
  where the face fills 80% of a frame up to 4000 pixels, small faces pasted into a 4000x3000 canvas,
  JPEGs rotated by their EXIF tag), each with the faces it must give; its pairs are every derived
  single-person photo against every shared labelled photo except its own source.

    python benchmarks/face_bench.py [--repeats 2] [--json] [--sets shared,derived,gallery,video]

and `gallery`: milliseconds per `face identify` query against 100 000 random unit vectors; `video`:
frames per second of `face detect`/`face identify` on a 640x360 clip panning across a group photo,
visiontk (whole frame every frame, and following faces) beside dlib's HOG pipeline frame by frame.

Prints the figures; asserts nothing (see the README for the measured numbers). `derived_photos()` is
also what tests/test_face_hires.py checks detection on.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

ROOT = Path(__file__).resolve().parents[1]
FACES = Path(os.environ.get("VISIONTK_SHARED", ROOT.parent / "shared")) / "data" / "faces"
GROUP_FACES = {"group_obama_and_biden.jpg": 3, "group_two_people.jpg": 2, "group_kit_with_rose.jpg": 2}


def identities(faces_dir: Path = FACES) -> dict[str, str]:
    with open(faces_dir / "identities.csv") as handle:
        return {row["file"]: row["identity"] for row in csv.DictReader(handle)}


def read_pairs(faces_dir: Path = FACES) -> list[tuple[str, str, bool]]:
    with open(faces_dir / "pairs.csv") as handle:
        return [(r["file_x"], r["file_y"], r["same"] == "yes") for r in csv.DictReader(handle)]


# ---- the derived high-resolution set ---------------------------------------------------------------------

@dataclass
class Derived:
    """A photo made from a shared one. Its faces are the source's faces moved by x' = scale * x + shift
    (the source's faces as visiontk finds them at the source's own size, checked by eye)."""

    name: str
    source: str
    kind: str
    path: Path
    scale: float = 1.0
    shift: tuple[float, float] = (0.0, 0.0)
    faces: list = field(default_factory=list)   # [(box (4,), landmarks (5, 2))] in the derived photo


# (kind, source, parameter): enlarge by a factor; tight crop to a frame of N pixels in which the face box
# spans 80%; paste into a 4000x3000 canvas with the face N pixels wide; rotate by an EXIF orientation.
DERIVED_RECIPES = [
    ("enlarge", "kit_harington_2.jpg", 5),
    ("enlarge", "alex_lacamoire_3.png", 6),
    ("enlarge", "rose_leslie_2.jpg", 4),
    ("enlarge", "obama_1.jpg", 3),
    ("enlarge", "group_kit_with_rose.jpg", 5),
    ("tight", "obama_4.jpg", 4000),
    ("tight", "biden_2.jpg", 2400),
    ("tight", "kit_harington_3.jpg", 1200),
    ("small", "obama_6.jpg", 40),
    ("small", "rose_leslie_1.jpg", 24),
    ("exif", "lin_manuel_miranda_1.png", 6),
    ("exif", "obama_2.jpg", 8),
]


def _reference_faces(image: np.ndarray) -> list:
    from visiontk.face import detect_faces
    return [(np.array(f.box), f.landmarks) for f in detect_faces(image)]


def _save_jpeg(picture: Image.Image, path: Path, exif: Image.Exif | None = None) -> None:
    picture.save(path, "JPEG", quality=95, **({"exif": exif} if exif is not None else {}))


def derived_photos(out_dir: Path, faces_dir: Path = FACES, recipes=DERIVED_RECIPES) -> list[Derived]:
    """Write the derived photos into `out_dir` (JPEG, quality 95) and say which faces each holds."""
    from visiontk.face import load_image

    out_dir.mkdir(parents=True, exist_ok=True)
    made = []
    for kind, source, value in recipes:
        image = load_image(faces_dir / source)
        reference = _reference_faces(image)
        picture = Image.fromarray(image)
        height, width = image.shape[:2]
        item = Derived(f"{kind}_{value}_{Path(source).stem}", source, kind, out_dir / "x.jpg")
        item.path = out_dir / f"{item.name}.jpg"
        exif = None
        if kind == "enlarge":
            item.scale = float(value)
            picture = picture.resize((width * value, height * value), Image.LANCZOS)
        elif kind == "tight":
            box = reference[0][0]
            side = max(box[2] - box[0], box[3] - box[1]) / 0.8
            left, top = (box[0] + box[2] - side) / 2, (box[1] + box[3] - side) / 2
            item.scale = value / side
            item.shift = (-left * item.scale, -top * item.scale)
            # Where the frame runs past the photo's edge it is grey.
            pad = int(side)
            padded = ImageOps.expand(picture, border=pad, fill=(128, 128, 128))
            picture = padded.resize((value, value), Image.LANCZOS,
                                    box=(left + pad, top + pad, left + pad + side, top + pad + side))
        elif kind == "small":
            box = reference[0][0]
            item.scale = value / (box[2] - box[0])
            small = picture.resize((max(1, round(width * item.scale)), max(1, round(height * item.scale))),
                                   Image.LANCZOS)
            canvas = Image.new("RGB", (4000, 3000), (118, 124, 120))
            item.shift = (2900.0, 2100.0)
            canvas.paste(small, (2900, 2100))
            item.scale = small.width / width
            picture = canvas
        elif kind == "exif":
            # Store the pixels turned, with the tag that turns them back: readers must honour it.
            turn = {6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}[value]
            picture = picture.transpose(turn)
            exif = Image.Exif()
            exif[0x0112] = value
        _save_jpeg(picture, item.path, exif)
        item.faces = [(box * item.scale + np.tile(item.shift, 2), marks * item.scale + np.array(item.shift))
                      for box, marks in reference]
        made.append(item)
    return made


def matches(found_box, expected_box) -> bool:
    """The same face: each box's centre lies inside the other (fair to both detectors, whose boxes
    are cut differently: dlib's HOG box is tighter than MTCNN's)."""
    def centre(b):
        return (b[0] + b[2]) / 2, (b[1] + b[3]) / 2

    def inside(point, b):
        return b[0] <= point[0] <= b[2] and b[1] <= point[1] <= b[3]

    return inside(centre(found_box), expected_box) and inside(centre(expected_box), found_box)


def recall(found: dict[str, list], expected: dict[str, list]) -> dict:
    """Expected faces found (once or more), and detections that match no expected face."""
    hits, total, extra = 0, 0, 0
    for name, boxes in expected.items():
        total += len(boxes)
        hits += sum(any(matches(f, e) for f in found[name]) for e in boxes)
        extra += sum(not any(matches(f, e) for e in boxes) for f in found[name])
    return {"faces_found": hits, "faces_expected": total, "recall": hits / total, "extra_detections": extra}


# ---- the two pipelines -----------------------------------------------------------------------------------

def visiontk_pipeline(images: dict[str, np.ndarray], min_face: int = 20) -> tuple[dict, dict]:
    """Detect and align every image, then embed the largest face of each in batches.
    Returns ({name: embedding or None}, {name: [boxes]})."""
    from visiontk.face import detect_faces, face_chips, load_model
    model = load_model()
    chips, owners, boxes = [], [], {}
    for name, image in images.items():
        faces = detect_faces(image, min_face=min_face)
        boxes[name] = [f.box for f in faces]
        if faces:
            chips.append(face_chips(image, faces[:1])[0])
            owners.append(name)
    vectors = dict.fromkeys(images)
    if chips:
        vectors.update(zip(owners, model.embed_chips(np.stack(chips))))
    return vectors, boxes


def face_recognition_pipeline(images: dict[str, np.ndarray]) -> tuple[dict, dict]:
    """face_recognition's defaults: HOG detector (upsampled once), 5-point landmarks, one jitter."""
    import face_recognition
    vectors, boxes = {}, {}
    for name, image in images.items():
        found = face_recognition.face_locations(image)        # (top, right, bottom, left)
        boxes[name] = [(left, top, right, bottom) for top, right, bottom, left in found]
        if not found:
            vectors[name] = None
            continue
        largest = max(found, key=lambda b: (b[2] - b[0]) * (b[1] - b[3]))
        vectors[name] = face_recognition.face_encodings(image, [largest])[0]
    return vectors, boxes


def pair_accuracy(vectors: dict[str, np.ndarray | None], pairs, threshold: float) -> dict:
    correct, answered, distances = 0, 0, {True: [], False: []}
    for a, b, same in pairs:
        if vectors[a] is None or vectors[b] is None:
            continue  # a missed face counts as a wrong answer
        answered += 1
        distance = float(np.linalg.norm(vectors[a] - vectors[b]))
        distances[same].append(distance)
        correct += (distance <= threshold) == same
    return {"accuracy": correct / len(pairs), "correct": correct, "answered": answered, "pairs": len(pairs),
            "max_same": max(distances[True], default=float("nan")),
            "min_different": min(distances[False], default=float("nan"))}


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


def timed(pipeline, images, repeats: int):
    """(result, wall seconds per pass, CPU seconds per pass): on a shared machine the CPU time, summed
    over all threads, is the steadier measure of the work done."""
    pipeline(dict(list(images.items())[:1]))  # warm-up: loading models, tracing graphs
    started, cpu_started = time.perf_counter(), time.process_time()
    for _ in range(repeats):
        result = pipeline(images)
    return result, (time.perf_counter() - started) / repeats, (time.process_time() - cpu_started) / repeats


def speed(images: dict, seconds: float, cpu_seconds: float) -> dict:
    return {"seconds_per_image": round(seconds / len(images), 3),
            "cpu_seconds_per_image": round(cpu_seconds / len(images), 3)}


# ---- the sets -------------------------------------------------------------------------------------------

@dataclass
class BenchSet:
    images: dict[str, np.ndarray]
    expected: dict[str, list]          # {name: [expected boxes]}
    pairs: list[tuple[str, str, bool]]


def shared_set() -> BenchSet:
    """Every shared photo; expected faces are visiontk's own at the default setting, checked by eye
    (one per labelled photo, all faces of the group photos)."""
    from visiontk.face import load_image
    names = sorted(identities()) + sorted(GROUP_FACES)
    images = {name: load_image(FACES / name) for name in names}
    expected = {name: [box for box, _ in _reference_faces(image)] for name, image in images.items()}
    for name, boxes in expected.items():
        wanted = GROUP_FACES.get(name, 1)
        assert len(boxes) == wanted, f"{name}: the reference detection found {len(boxes)} faces, not {wanted}"
    return BenchSet(images, expected, read_pairs())


def derived_set(folder: Path) -> BenchSet:
    from visiontk.face import load_image
    made = derived_photos(folder)
    known = identities()
    images = {item.name: load_image(item.path) for item in made}
    expected = {item.name: [box for box, _ in item.faces] for item in made}
    labelled = {name: load_image(FACES / name) for name in sorted(known)}
    pairs = [(item.name, other, known[item.source] == known[other])
             for item in made if item.source in known for other in sorted(known) if other != item.source]
    return BenchSet({**images, **labelled}, {**expected}, pairs)


def run_set(bench: BenchSet, repeats: int) -> dict:
    result = {"images": len(bench.expected), "pairs": len(bench.pairs),
              "megapixels": round(sum(bench.images[n].size // 3 for n in bench.expected) / 1e6, 1)}
    # Speed is timed on the images the set is about (for the derived set, not its labelled partners).
    timed_images = {name: bench.images[name] for name in bench.expected}
    for label, pipeline in (("visiontk", visiontk_pipeline), ("face_recognition", face_recognition_pipeline)):
        try:
            (vectors, boxes), seconds, cpu = timed(pipeline, timed_images, repeats)
        except ImportError:
            result[label] = "not installed (pip install dlib-bin face_recognition --no-deps)"
            continue
        partners = {n: im for n, im in bench.images.items() if n not in timed_images}
        if partners:
            vectors.update(pipeline(partners)[0])
        result[label] = {**recall(boxes, bench.expected), **pair_accuracy(vectors, bench.pairs, 0.6),
                         **speed(timed_images, seconds, cpu)}
    return result


def gallery_speed(size: int = 100_000, queries: int = 50, dimensions: int = 128) -> dict:
    """`face identify` against `size` people: random unit vectors in an .npz gallery; milliseconds to
    load the file, per query face one at a time, and per face when a photo's faces go together."""
    from visiontk.face.gallery import Gallery

    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(size + queries, dimensions)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    with tempfile.TemporaryDirectory() as folder:
        gallery = Gallery("random")
        gallery.add_many([f"person{i}" for i in range(size)], vectors[:size])
        path = gallery.save(Path(folder) / "gallery.npz")
        started = time.perf_counter()
        gallery = Gallery.load(path)
        load_ms = (time.perf_counter() - started) * 1000
    probes = vectors[size:]
    gallery.identify(probes[0], 0.6)   # warm-up (and the cached squared norms)
    started = time.perf_counter()
    for probe in probes:
        gallery.identify(probe, 0.6)
    single_ms = (time.perf_counter() - started) * 1000 / queries
    started = time.perf_counter()
    gallery.identify_many(probes, 0.6)
    batch_ms = (time.perf_counter() - started) * 1000 / queries
    return {"people": size, "load_ms": round(load_ms, 1), "ms_per_query": round(single_ms, 2),
            "ms_per_query_batched": round(batch_ms, 2)}


# ---- video: frames per second on a clip with real motion ---------------------------------------------------

def panning_clip(path: Path, photo: Path = FACES / "group_obama_and_biden.jpg", frames: int = 50,
                 size: tuple[int, int] = (640, 360), fps: int = 25) -> Path:
    """A clip made from a real photo by a camera move: the frame pans across the photo from left to
    right while zooming in by 1.4x, so that every face moves and grows (no clip of people ships here)."""
    import av
    image = Image.open(photo).convert("RGB")
    width, height = size
    container = av.open(str(path), "w")
    stream = container.add_stream("libx264", rate=fps)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    for k in range(frames):
        t = k / max(frames - 1, 1)
        zoom = 1 + 0.4 * t                      # the window shrinks: the faces grow
        win_w = min(image.width, image.height * width / height) / zoom
        win_h = win_w * height / width
        left = t * max(image.width - win_w, 0)
        top = (image.height - win_h) * 0.3
        frame = image.resize(size, Image.BILINEAR, box=(left, top, left + win_w, top + win_h))
        container.mux(stream.encode(av.VideoFrame.from_ndarray(np.asarray(frame), format="rgb24")))
    container.mux(stream.encode(None))
    container.close()
    return path


def video_speed(folder: Path, frames: int = 50) -> dict:
    """Frames per second of `face detect` and `face identify` on a panning clip: visiontk searching the
    whole frame every frame (as before), visiontk following faces (the default), and dlib's HOG
    detector (+ its embedding for identify) frame by frame; and how often following gives the faces
    the whole-frame search gives (same count, each box's centre inside the other's)."""
    from visiontk.face import Gallery, embed, load_model
    from visiontk.face.video import detect_video, identify_video
    from visiontk.videoio import VideoReader

    clip = panning_clip(folder / "pan.mp4", frames=frames)
    model = load_model()
    gallery = Gallery(model.name)
    for name, person in (("obama_1.jpg", "obama"), ("biden_1.jpg", "biden")):
        gallery.add(person, embed(FACES / name, model=model).embedding)
    result, boxes = {"frames": frames, "size": [640, 360]}, {}
    for label, full_every in (("visiontk, whole frame every frame", 1), ("visiontk, following faces", 5)):
        for verb in ("detect", "identify"):
            seen: list = []
            started = time.perf_counter()
            if verb == "detect":
                detect_video(clip, full_every=full_every, on_frame=lambda r: seen.append(r["faces"]))
            else:
                identify_video(clip, gallery, model, full_every=full_every, on_frame=lambda r: seen.append(r["faces"]))
            result[f"{label}: {verb} frames/s"] = round(frames / (time.perf_counter() - started), 2)
            boxes[(full_every, verb)] = seen
    result["following agrees with whole-frame search (detect)"] = _agreement(boxes[(5, "detect")], boxes[(1, "detect")])
    names = [[f["name"] for f in faces] for faces in boxes[(5, "identify")]]
    result["identify: frames naming obama and biden (following, whole frame)"] = [
        sum({"obama", "biden"} <= set(n) for n in names),
        sum({"obama", "biden"} <= {f["name"] for f in faces} for faces in boxes[(1, "identify")])]
    try:
        import face_recognition
    except ImportError:
        return result
    with VideoReader(clip, upright=True) as reader:
        rgb_frames = [frame.rgb for frame in reader.frames()]
    for verb in ("detect", "identify"):
        started = time.perf_counter()
        for rgb in rgb_frames:
            found = face_recognition.face_locations(rgb)
            if verb == "identify" and found:
                face_recognition.face_encodings(rgb, found)
        result[f"dlib HOG frame by frame: {verb} frames/s"] = round(frames / (time.perf_counter() - started), 2)
    return result


def _agreement(followed: list[list[dict]], full: list[list[dict]]) -> float:
    """Share of frames in which following gives the same faces as the whole-frame search."""
    same = sum(len(a) == len(b) and all(any(matches(x["box"], y["box"]) for y in b) for x in a)
               for a, b in zip(followed, full))
    return round(same / max(len(full), 1), 3)


def print_table(results: dict) -> None:
    print(f"{results['cores']} CPU cores; embedding only: {results['embedding_only']['chips_per_second']} chips/s")
    print("| set | pipeline | faces found | extra detections | pairs right at 0.6 | s per image (wall) "
          "| CPU s per image |")
    print("|---|---|---|---|---|---|---|")
    if "gallery" in results:
        g = results["gallery"]
        print(f"gallery of {g['people']} people: load {g['load_ms']} ms, {g['ms_per_query']} ms per query face "
              f"({g['ms_per_query_batched']} ms each when {50} go together)")
    if "video" in results:
        for key, value in results["video"].items():
            print(f"video: {key}: {value}")
    for set_name in results["sets"]:
        if set_name in ("gallery", "video"):
            continue
        r = results[set_name]
        for label in ("visiontk", "face_recognition"):
            x = r[label]
            if isinstance(x, str):
                print(f"| {set_name} | {label} | {x} |")
                continue
            print(f"| {set_name} ({r['images']} photos, {r['megapixels']} MP) | {label} | "
                  f"{x['faces_found']}/{x['faces_expected']} | {x['extra_detections']} | "
                  f"{x['correct']}/{x['pairs']} ({x['accuracy']:.1%}) | {x['seconds_per_image']:.2f} | "
                  f"{x['cpu_seconds_per_image']:.2f} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2, help="timed passes over the images (after a warm-up)")
    parser.add_argument("--sets", default="shared,derived,gallery",
                        help="comma-separated: shared, derived, gallery (search in 100 000 people), video "
                             "(frames/s on a panning clip)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    results = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
               "sets": args.sets.split(","), "embedding_only": embedding_throughput()}
    with tempfile.TemporaryDirectory() as folder:
        for set_name in results["sets"]:
            if set_name == "gallery":
                results["gallery"] = gallery_speed()
                continue
            if set_name == "video":
                results["video"] = video_speed(Path(folder))
                continue
            bench = shared_set() if set_name == "shared" else derived_set(Path(folder))
            results[set_name] = run_set(bench, args.repeats)
    if args.json:
        print(json.dumps(results, default=float))
    else:
        print_table(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
