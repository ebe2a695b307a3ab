"""Face detection evaluation that a confidence cut-off can be chosen on: recall on photos with faces and
false detections per face-free photo, as curves against `--min-confidence`, for visiontk's cascade and
for the `mtcnn` package's own detector (its default stages, O-Net cut-off lowered to draw the curve).

Photos (all real; nothing here is downloaded):

- BSDS500 (../shared/data/sr-train/bsds500, 400 photos of 481x321): every face in them, and the photos
  with no person at all as negatives. Which photos show people and which boxes are faces was decided by
  eye, on contact sheets of every box either detector scored at least 0.5: `labels/bsds_faces.json`
  beside this file (see docs/face.md). Statues, masks and faces turned away or too blurred to call are
  listed as `ignore` (a detection there is neither a hit nor a false detection); recall counts faces at
  least CLEAR_FACE pixels tall, smaller ones are ignored too.
- hard versions of the shared face photos (JPEG quality 15, blurred, dark, rotated 20 degrees, small in a
  large frame), the astronaut photo that ships with scikit-image, and the shared photos themselves;
- the three paintings of ../shared/data/style, and crops of the BSDS face-free photos, as more negatives.

Splits: the cut-off is chosen on `dev` (BSDS500 `train`, the hard versions, the astronaut); `test`
(BSDS500 `test`, the shared photos, the derived high-resolution photos of face_bench) is only reported.
The tests check photos of `test`, never of `dev`.

    python benchmarks/face_detect_eval.py [--out /tmp/face_eval] [--plot docs/images/face_detect_curve.png]

Detections are cached in OUT/detections.json (delete it to detect again).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from face_bench import (FACES, GROUP_FACES, derived_photos, identities, matches)  # noqa: E402

SHARED = FACES.parents[1]
BSDS = SHARED / "data" / "sr-train" / "bsds500"
STYLE = SHARED / "data" / "style"
LABELS = ROOT / "benchmarks" / "labels" / "bsds_faces.json"
PACKAGE_MAX_PIXELS = 4_000_000
CLEAR_FACE = 40       # pixels tall: recall is measured on these; smaller faces are neither hit nor false
CUTS = np.round(np.arange(0.30, 1.0001, 0.01), 2)


# ---- the photos --------------------------------------------------------------------------------------------

def hard_versions(out: Path) -> list[dict]:
    """Harder copies of each shared one-person photo, with its face's box moved accordingly."""
    from visiontk.face import detect_faces, load_image

    out.mkdir(parents=True, exist_ok=True)
    made = []
    for name in sorted(identities()):
        if name.startswith("group") or "partial" in name:
            continue
        image = load_image(FACES / name)
        faces = detect_faces(image)
        if not faces:
            continue
        box = np.array(faces[0].box)
        picture = Image.fromarray(image)
        w, h = picture.size
        stem = Path(name).stem
        versions = {
            "jpeg15": (picture, box),
            "blur": (picture.filter(ImageFilter.GaussianBlur(float(max(1.0, (box[2] - box[0]) / 80)))), box),
            "dark": (Image.fromarray((255 * (image / 255.0) ** 2.2 * 0.6).astype(np.uint8)), box),
            "rotated": (picture.rotate(20, resample=Image.BICUBIC, expand=False), _rotated(box, 20, w, h)),
        }
        scale = 40 / (box[2] - box[0])   # the face 40 pixels wide, in a 1280x960 frame
        small = picture.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.LANCZOS)
        canvas = Image.new("RGB", (max(1280, small.width + 100), max(960, small.height + 100)), (110, 116, 112))
        canvas.paste(small, (60, 50))
        versions["small40"] = (canvas, box * scale + np.array([60, 50, 60, 50]))
        for kind, (pic, face_box) in versions.items():
            path = out / f"{kind}_{stem}.jpg"
            pic.convert("RGB").save(path, "JPEG", quality=15 if kind == "jpeg15" else 92)
            made.append({"path": str(path), "faces": [face_box.tolist()], "ignore": [], "split": "dev",
                         "kind": f"hard:{kind}"})
    return made


def _rotated(box: np.ndarray, degrees: float, width: int, height: int) -> np.ndarray:
    """The box around the rotated centre (PIL turns counter-clockwise about the image centre)."""
    cx, cy = (box[0] + box[2]) / 2 - width / 2, (box[1] + box[3]) / 2 - height / 2
    a = np.deg2rad(degrees)
    x, y = cx * np.cos(a) + cy * np.sin(a), -cx * np.sin(a) + cy * np.cos(a)
    half_w, half_h = (box[2] - box[0]) / 2, (box[3] - box[1]) / 2
    return np.array([x - half_w, y - half_h, x + half_w, y + half_h]) + np.array([width, height] * 2) / 2


def shared_photos() -> list[dict]:
    """The shared face photos, their faces as face_bench takes them (the largest detections, as many as
    the photo shows people, checked by eye); the partial face is ignored."""
    from visiontk.face import detect_faces, load_image
    items = []
    for name in sorted(identities()):
        boxes = [list(f.box) for f in detect_faces(load_image(FACES / name))][:GROUP_FACES.get(name, 1)]
        partial = "partial" in name
        items.append({"path": str(FACES / name), "faces": [] if partial else boxes,
                      "ignore": boxes if partial else [], "split": "test", "kind": "shared"})
    return items


def derived(out: Path) -> list[dict]:
    return [{"path": str(d.path), "faces": [np.asarray(b).tolist() for b, _ in d.faces], "ignore": [],
             "split": "test", "kind": f"derived:{d.kind}"} for d in derived_photos(out)]


def bsds_photos() -> list[dict]:
    labels = json.loads(LABELS.read_text()) if LABELS.exists() else {}
    items = []
    for split in ("train", "test"):
        for path in sorted((BSDS / split).glob("*.jpg")):
            entry = labels.get(path.name, {"faces": [], "ignore": []})
            items.append({"path": str(path), "faces": entry["faces"], "ignore": entry.get("ignore", []),
                          "split": "dev" if split == "train" else "test",
                          "kind": "bsds:people" if entry["faces"] or entry.get("ignore") else "bsds:no-face"})
    return items


def paintings_and_crops(out: Path, bsds: list[dict]) -> list[dict]:
    """Paintings, and a 240x240 crop enlarged to 480 of every other BSDS photo without people
    (backgrounds and textures seen closer), as more face-free photos. Each crop's place depends only
    on its photo, so the cached detections stay valid when labels change."""
    out.mkdir(parents=True, exist_ok=True)
    items = [{"path": str(p), "faces": [], "ignore": [], "split": "dev", "kind": "painting"}
             for p in sorted(STYLE.glob("*.jpg"))]
    for item in bsds:
        number = int(Path(item["path"]).stem)
        if item["kind"] != "bsds:no-face" or number % 2:
            continue
        rng = np.random.default_rng(number)
        picture = Image.open(item["path"]).convert("RGB")
        x, y = int(rng.integers(0, picture.width - 240)), int(rng.integers(0, picture.height - 240))
        path = out / f"crop_{Path(item['path']).stem}.jpg"
        picture.crop((x, y, x + 240, y + 240)).resize((480, 480), Image.BICUBIC).save(path, quality=92)
        items.append({"path": str(path), "faces": [], "ignore": [], "split": item["split"], "kind": "crop"})
    return items


# ---- detecting -------------------------------------------------------------------------------------------

def ours(image: np.ndarray) -> list[dict]:
    from visiontk.face.detect import detect_faces
    return [{"box": list(f.box), "score": f.confidence, "landmarks": f.landmarks.tolist()}
            for f in detect_faces(image, min_confidence=0.0)]


_PACKAGE = []


def package(image: np.ndarray) -> list[dict]:
    """The `mtcnn` package with its defaults, except the O-Net cut-off (0 here, to draw the curve)."""
    import contextlib
    import io
    if not _PACKAGE:
        from mtcnn import MTCNN
        _PACKAGE.append(MTCNN())
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        found = _PACKAGE[0].detect_faces(image, box_format="xyxy", threshold_onet=0.0)
    return [{"box": [float(v) for v in f["box"]], "score": float(f["confidence"]),
             "landmarks": [list(map(float, f["keypoints"][k])) for k in
                           ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")]} for f in found]


def detect_all(items: list[dict], cache: Path) -> dict:
    from visiontk.face import load_image
    results = json.loads(cache.read_text()) if cache.exists() else {}
    todo = [it for it in items if it["path"] not in results]
    started = time.time()
    for k, item in enumerate(todo):
        image = load_image(item["path"])
        # The package cuts every candidate from the full photo: on the 12-16 MP derived photos one
        # photo takes minutes, so it is left out of those (its curves are on the other photos).
        big = image.shape[0] * image.shape[1] > PACKAGE_MAX_PIXELS
        results[item["path"]] = {"ours": ours(image), "mtcnn": None if big else package(image)}
        if k % 50 == 49:
            cache.write_text(json.dumps(results))
            print(f"  {k + 1}/{len(todo)} photos, {time.time() - started:.0f} s", file=sys.stderr)
    cache.write_text(json.dumps(results))
    return results


# ---- a verification stage with the embedding network (measured, not used) ------------------------------

def embedding_check(items: list[dict], results: dict, cut: float = 0.45) -> dict:
    """Can dlib's face embedding tell the cascade's false detections from faces? For each split: the
    false detections (score >= `cut`) on face-free photos left when a cut-off on the embedding's length,
    or on its distance to the mean dev face, keeps every face at least CLEAR_FACE tall."""
    from visiontk.face import load_image, load_model
    from visiontk.face.detect import Face
    from visiontk.face.recognize import face_chips

    model, rows = load_model(), []
    for item in items:
        found = [f for f in results[item["path"]]["ours"] if f["score"] >= cut]
        if not found:
            continue
        faces = [Face(tuple(f["box"]), f["score"], np.array(f["landmarks"])) for f in found]
        for f, vector in zip(found, model.embed_chips(face_chips(load_image(item["path"]), faces))):
            face = any(matches(f["box"], b) for b in item["faces"] if b[3] - b[1] >= CLEAR_FACE)
            false = not item["faces"] and not item["ignore"]
            if face or false:
                rows.append((item["split"], face, vector))
    split, face = np.array([r[0] for r in rows]), np.array([r[1] for r in rows])
    vectors = np.array([r[2] for r in rows])
    mean_face = vectors[(split == "dev") & face].mean(0)
    features = {"length": np.linalg.norm(vectors, axis=1),
                "distance to the mean dev face": np.linalg.norm(vectors - mean_face, axis=1)}
    report = {}
    for name in ("dev", "test"):
        faces, false = (split == name) & face, (split == name) & ~face
        report[name] = {"faces": int(faces.sum()), f"false detections >= {cut}": int(false.sum())}
        for feature, values in features.items():
            floor = values[faces].min()   # the cut-off that keeps every face
            report[name][f"left by {feature} >= {floor:.3f}"] = int((false & (values >= floor)).sum())
    return report


# ---- scoring -----------------------------------------------------------------------------------------------

def score_photo(item: dict, found: list[dict]) -> tuple[list[float], list[float]]:
    """(best score of each face, 0 when none matches; scores of the detections that are no face)."""
    faces = [max([f["score"] for f in found if matches(f["box"], face)], default=0.0) for face in item["faces"]]
    false = [f["score"] for f in found
             if not any(matches(f["box"], face) for face in item["faces"] + item["ignore"])]
    return faces, false


def clear_only(item: dict) -> dict:
    """The photo with its faces under CLEAR_FACE pixels tall moved to `ignore`."""
    return dict(item, faces=[f for f in item["faces"] if f[3] - f[1] >= CLEAR_FACE],
                ignore=item["ignore"] + [f for f in item["faces"] if f[3] - f[1] < CLEAR_FACE])


def curves(items: list[dict], results: dict, detector: str) -> dict:
    face_scores, false_free, false_people, free_photos = [], [], [], 0
    for item in items:
        if results[item["path"]][detector] is None:
            continue   # a photo too large for the package
        faces, false = score_photo(clear_only(item), results[item["path"]][detector])
        face_scores += faces
        if item["faces"] or item["ignore"]:
            false_people += false
        else:
            free_photos += 1
            false_free += false
    face_scores, false_free, false_people = map(np.array, (face_scores, false_free, false_people))
    return {"faces": len(face_scores), "face_free_photos": free_photos, "cuts": CUTS.tolist(),
            "recall": [float((face_scores >= t).mean()) if len(face_scores) else 1.0 for t in CUTS],
            "false_per_face_free_photo": [float((false_free >= t).sum() / max(free_photos, 1)) for t in CUTS],
            "false_in_photos_with_people": [int((false_people >= t).sum()) for t in CUTS],
            "missed": int((face_scores == 0).sum())}


def at(curve: dict, cut: float) -> dict:
    i = int(np.argmin(np.abs(np.array(curve["cuts"]) - cut)))
    return {"recall": round(curve["recall"][i], 4),
            "false_per_200_face_free": round(200 * curve["false_per_face_free_photo"][i], 2),
            "false_in_photos_with_people": curve["false_in_photos_with_people"][i]}


def choose(curve: dict, false_per_200: float = 1.0) -> float:
    """Among the cuts that keep false detections at most `false_per_200` per 200 face-free photos, those
    that find the most faces; of that run, its middle (the margin to the scores on either side)."""
    cuts, recall = np.array(curve["cuts"]), np.array(curve["recall"])
    allowed = 200 * np.array(curve["false_per_face_free_photo"]) <= false_per_200
    best = recall[allowed].max()
    return round(float(np.median(cuts[allowed & (recall == best)])), 2)


def plot(path: Path, panels: dict) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for label, curve in panels.items():
        axes[0].plot(curve["cuts"], curve["recall"], label=label)
        axes[1].plot(curve["cuts"], 200 * np.array(curve["false_per_face_free_photo"]), label=label)
    axes[0].set(xlabel="--min-confidence", ylabel=f"recall (faces at least {CLEAR_FACE} px tall)",
                title="recall, dev split", ylim=(0.9, 1.005))
    axes[0].axhline(0.995, color="grey", lw=0.8, ls="--")
    axes[1].set(xlabel="--min-confidence", ylabel="false detections per 200 face-free photos",
                title="false detections, dev split", yscale="symlog")
    axes[1].axhline(1, color="grey", lw=0.8, ls="--")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def photos(out: Path) -> list[dict]:
    bsds = bsds_photos()
    return (bsds + hard_versions(out / "hard") + shared_photos() + derived(out / "derived")
            + paintings_and_crops(out / "crops", bsds)
            + [{"path": str(SHARED / "data" / "content" / "astronaut.png"), "faces": [[170, 40, 270, 170]],
                "ignore": [], "split": "dev", "kind": "astronaut"}])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/face_eval"))
    parser.add_argument("--plot", type=Path)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--embedding-check", action="store_true",
                        help="also measure a verification stage with the face embedding (see docs/face.md)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    items = photos(args.out)
    results = detect_all(items, args.out / "detections.json")
    report = {}
    for split in ("dev", "test"):
        chosen = [it for it in items if it["split"] == split]
        report[split] = {label: curves(chosen, results, detector)
                         for label, detector in (("visiontk", "ours"), ("mtcnn package", "mtcnn"))}
    summary = {"load_average": os.getloadavg()[0], "chosen on dev": choose(report["dev"]["visiontk"])}
    for split, panel in report.items():
        for label, curve in panel.items():
            summary[f"{split} {label}"] = {"faces": curve["faces"], "face_free_photos": curve["face_free_photos"],
                                           **{f"at {c}": at(curve, c) for c in (0.6, 0.7, 0.8, 0.9, 0.92, 0.95)}}
    if args.embedding_check:
        summary["embedding check"] = embedding_check(items, results)
    print(json.dumps(summary, indent=1))
    if args.plot:
        plot(args.plot, {f"{label}": curve for label, curve in report["dev"].items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
