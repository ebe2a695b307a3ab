"""Export benchmark: file size and latency of each deployable network in every format against Keras.

For each network (EDSR x2/x3/x4 on a 128x128 crop of Set5's butterfly, the face embedder on one
150x150 chip, the DCGAN generator on one latent), export it as SavedModel, TFLite float32, float16
and dynamic-range int8, and ONNX (when tf2onnx is installed), then time one call of each (median of
--repeats after a warm-up) beside the Keras network's own (the uint8 serving function, traced once).

    python benchmarks/export_bench.py [--repeats 7] [--models edsr-x2,dlib-face-resnet] [--json]

Prints a table (or JSON lines); asserts nothing. The figures in the model cards and README come from it.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VISIONTK_SHARED", ROOT.parent / "shared"))
MODELS = ("edsr-x2", "edsr-x3", "edsr-x4", "dlib-face-resnet", "dcgan-fashion-mnist")
VARIANTS = (("savedmodel", "none", "savedmodel"), ("tflite", "none", "tflite"),
            ("tflite", "float16", "tflite-float16"), ("tflite", "dynamic", "tflite-dynamic"),
            ("onnx", "none", "onnx"))


def inputs_for(name: str) -> np.ndarray:
    from PIL import Image

    from visiontk.gan.generate import latents

    if name.startswith("edsr"):
        rgb = np.asarray(Image.open(SHARED / "data" / "sr" / "Set5" / "butterfly.png").convert("RGB"))
        return rgb[64:192, 64:192][None]
    if name == "dlib-face-resnet":
        from visiontk.face import detect_faces, load_image
        from visiontk.face.align import align

        image = load_image(SHARED / "data" / "faces" / "obama_1.jpg")
        chip = align(image, detect_faces(image)[0].landmarks)
        return np.clip(np.round(chip), 0, 255).astype(np.uint8)[None]
    return latents(1, 100, seed=0)


def bench(name: str, repeats: int, work: Path) -> list[dict]:
    import importlib.util

    import tensorflow as tf

    from visiontk import serving

    exportable = serving.resolve(name)
    x = inputs_for(name)
    serve, spec = serving.serving_function(exportable)
    traced = tf.function(serve, input_signature=[spec])
    rows = [{"model": name, "variant": "keras", "bytes": None,
             "ms": 1000 * serving.latency(lambda v: [t.numpy() for t in traced(v).values()], x, repeats)}]
    for fmt, quantize, label in VARIANTS:
        if fmt == "onnx" and importlib.util.find_spec("tf2onnx") is None:
            continue
        path = work / f"{name}-{label}" if fmt == "savedmodel" else work / f"{name}-{label}.{fmt}"
        record = serving.export(exportable, path, fmt, quantize, overwrite=True)
        run = serving.runner(path, fmt)
        # The difference from Keras on the timed (real) input, not on export's check card.
        check = serving.compare(exportable, run, x, quantize)
        rows.append({"model": name, "variant": label, "bytes": record["bytes"],
                     "check": check.get("check_max_abs_diff", check.get("check_cosine")),
                     "ms": 1000 * serving.latency(run, x, repeats)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    print(f"# {os.cpu_count()} CPU cores, input: EDSR 128x128, face 1 chip, DCGAN 1 latent", file=sys.stderr)
    with tempfile.TemporaryDirectory() as work:
        for name in args.models.split(","):
            for row in bench(name, args.repeats, Path(work)):
                if args.json:
                    print(json.dumps(row), flush=True)
                else:
                    size = f"{row['bytes'] / 1e6:7.2f} MB" if row["bytes"] else " " * 10
                    print(f"{row['model']:20} {row['variant']:15} {size} {row['ms']:9.1f} ms  "
                          f"check {row.get('check', '')}", flush=True)


if __name__ == "__main__":
    main()
