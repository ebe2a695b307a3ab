"""Benchmark for `visiontk stylize`: quality reached per second against the keras.io example, seconds per
iteration, and the fraction of the machine's peak FLOP/s that one iteration reaches.

    VISIONTK_MODELS=../shared/weights python benchmarks/stylize_bench.py [--baseline-seconds 240]

Everything runs in one process (our CLI as a subprocess of it), one after the other, so that the
baseline and ours see the same machine. The machine is shared: run `uptime` beside it and report the load.

The judge (one function for both methods, `judge`): the result, the photo and the painting go through
VGG16 once; style distance = mean over block1_conv1..block5_conv1 of ||G(result) - G(painting)||² /
||G(painting)||² (Gram matrices averaged over positions, painting resized to the result's long side);
content distance = mean over block4_conv2 and block5_conv2 (the content layers of Gatys and of
keras.io) of ||F(result) - F(photo)||² / ||F(photo)||². Lower is better for both.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VISIONTK_SHARED", ROOT.parent / "shared"))
os.environ.setdefault("VISIONTK_MODELS", str(SHARED / "weights"))

from visiontk import runtime  # noqa: E402  (after VISIONTK_MODELS is set)
from visiontk.imageio import read_image, resize_long_side  # noqa: E402

STYLE_LAYERS = ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1")
JUDGE_CONTENT_LAYERS = ("block4_conv2", "block5_conv2")


# ---- the shared judge --------------------------------------------------------------------------------
class Judge:
    def __init__(self, photo: np.ndarray, painting: np.ndarray):
        from visiontk.backbones.vgg import vgg_extractor

        self.tf = runtime.tensorflow()
        self.net = vgg_extractor("vgg16", STYLE_LAYERS + JUDGE_CONTENT_LAYERS)
        self.photo, self.painting = photo, painting

    def features(self, rgb: np.ndarray) -> dict:
        return {k: v.numpy()[0].astype(np.float64) for k, v in
                self.net(self.tf.constant(rgb[None], self.tf.float32)).items()}

    @staticmethod
    def gram(features: np.ndarray) -> np.ndarray:
        flat = features.reshape(-1, features.shape[-1])
        return flat.T @ flat / flat.shape[0]

    def __call__(self, result: np.ndarray) -> dict:
        from PIL import Image

        height, width = result.shape[:2]
        photo = np.asarray(Image.fromarray(self.photo).resize((width, height), Image.BICUBIC))
        painting = resize_long_side(self.painting, max(width, height))
        got, want_c, want_s = self.features(result), self.features(photo), self.features(painting)
        style = np.mean([np.sum((self.gram(got[l]) - self.gram(want_s[l])) ** 2) /
                         np.sum(self.gram(want_s[l]) ** 2) for l in STYLE_LAYERS])
        content = np.mean([np.sum((got[l] - want_c[l]) ** 2) / np.sum(want_c[l] ** 2)
                           for l in JUDGE_CONTENT_LAYERS])
        return {"style_distance": float(style), "content_distance": float(content)}


# ---- BASELINE: the keras.io "Neural style transfer" example (F. Chollet), reimplemented --------------
# As published (https://keras.io/examples/generative/neural_style_transfer/): SGD, learning rate 100
# decayed x0.96 every 100 steps; content weight 2.5e-8 on block5_conv2; style weight 1e-6 shared over
# block1_conv1..block5_conv1 with the un-normalised Gram loss; total variation weight 1e-6; the photo, the
# painting and the result concatenated through the whole VGG at every step. Changes, all in its favour or
# neutral: VGG16 instead of VGG19 (the weights we have); the image is 256 px on its long side (not 400 px
# tall) so both methods make the same picture; bicubic instead of nearest-neighbour resizing.
def keras_io_baseline(photo: np.ndarray, painting: np.ndarray, seconds: float,
                      checkpoints: tuple[float, ...]) -> dict[float, tuple[np.ndarray, int]]:
    tf = runtime.tensorflow()
    import keras
    from PIL import Image

    from visiontk.backbones.vgg import load_vgg

    img_nrows, img_ncols = photo.shape[:2]
    total_variation_weight, style_weight, content_weight = 1e-6, 1e-6, 2.5e-8
    model = load_vgg("vgg16")
    outputs_dict = {layer.name: layer.output for layer in model.layers}
    feature_extractor = keras.Model(inputs=model.inputs, outputs=outputs_dict)
    style_layer_names = list(STYLE_LAYERS)
    content_layer_name = "block5_conv2"

    def preprocess_image(rgb):
        rgb = np.asarray(Image.fromarray(rgb).resize((img_ncols, img_nrows), Image.BICUBIC), np.float32)
        return tf.convert_to_tensor(keras.applications.vgg16.preprocess_input(rgb[None]))

    def deprocess_image(x):
        x = x.reshape((img_nrows, img_ncols, 3)) + np.array([103.939, 116.779, 123.68])
        return np.clip(x[:, :, ::-1], 0, 255).astype("uint8")

    def gram_matrix(x):
        x = tf.transpose(x, (2, 0, 1))
        features = tf.reshape(x, (tf.shape(x)[0], -1))
        return tf.matmul(features, tf.transpose(features))

    def style_loss(style, combination):
        S, C = gram_matrix(style), gram_matrix(combination)
        channels, size = 3, img_nrows * img_ncols
        return tf.reduce_sum(tf.square(S - C)) / (4.0 * (channels ** 2) * (size ** 2))

    def content_loss(base, combination):
        return tf.reduce_sum(tf.square(combination - base))

    def total_variation_loss(x):
        a = tf.square(x[:, : img_nrows - 1, : img_ncols - 1, :] - x[:, 1:, : img_ncols - 1, :])
        b = tf.square(x[:, : img_nrows - 1, : img_ncols - 1, :] - x[:, : img_nrows - 1, 1:, :])
        return tf.reduce_sum(tf.pow(a + b, 1.25))

    def compute_loss(combination_image, base_image, style_reference_image):
        input_tensor = tf.concat([base_image, style_reference_image, combination_image], axis=0)
        features = feature_extractor(input_tensor)
        loss = tf.zeros(shape=())
        layer_features = features[content_layer_name]
        loss = loss + content_weight * content_loss(layer_features[0], layer_features[2])
        for layer_name in style_layer_names:
            layer_features = features[layer_name]
            sl = style_loss(layer_features[1], layer_features[2])
            loss += (style_weight / len(style_layer_names)) * sl
        return loss + total_variation_weight * total_variation_loss(combination_image)

    @tf.function
    def compute_loss_and_grads(combination_image, base_image, style_reference_image):
        with tf.GradientTape() as tape:
            loss = compute_loss(combination_image, base_image, style_reference_image)
        return loss, tape.gradient(loss, combination_image)

    optimizer = keras.optimizers.SGD(keras.optimizers.schedules.ExponentialDecay(
        initial_learning_rate=100.0, decay_steps=100, decay_rate=0.96))
    base_image = preprocess_image(photo)
    style_reference_image = preprocess_image(painting)
    combination_image = tf.Variable(preprocess_image(photo))
    snapshots, pending, started, step = {}, sorted(checkpoints), time.perf_counter(), 0
    while pending:
        loss, grads = compute_loss_and_grads(combination_image, base_image, style_reference_image)
        optimizer.apply_gradients([(grads, combination_image)])
        step += 1
        elapsed = time.perf_counter() - started
        while pending and elapsed >= pending[0]:
            snapshots[pending.pop(0)] = (deprocess_image(combination_image.numpy()), step)
        if elapsed >= seconds:
            break
    return snapshots
# ---- end of BASELINE ---------------------------------------------------------------------------------


def peak_flops(precision: str, sizes: tuple[int, ...] = (2048, 4096), repeats: int = 5) -> float:
    """The machine's attainable FLOP/s in `precision`: the best of several large matrix products."""
    tf = runtime.tensorflow()
    matmul = tf.function(lambda x: tf.reduce_sum(tf.cast(tf.matmul(x, x), tf.float32)))
    best = 0.0
    for size in sizes:
        a = tf.cast(tf.random.normal((size, size)), precision)
        matmul(a).numpy()
        for _ in range(repeats):
            started = time.perf_counter()
            matmul(a).numpy()
            best = max(best, 2 * size ** 3 / (time.perf_counter() - started))
    return best


def vgg_forward_flops(width: int, height: int, deepest: str) -> float:
    """Multiply-adds x2 of VGG16's convolutions up to `deepest` on one (height, width) image."""
    from visiontk.backbones.vgg import vgg_layer_names

    channels = {1: 64, 2: 128, 3: 256, 4: 512, 5: 512}
    flops, in_channels, block = 0.0, 3, 1
    for name in vgg_layer_names("vgg16"):
        layer_block = int(name[5])
        if layer_block != block:  # a 2x2 max-pool between blocks
            width, height, block = width // 2, height // 2, layer_block
        flops += 2 * width * height * 9 * in_channels * channels[layer_block]
        in_channels = channels[layer_block]
        if name == deepest:
            break
    return flops


def seconds_per_iteration(photo: np.ndarray, painting: np.ndarray, long_side: int, precision: str,
                          repeats: int = 5) -> tuple:
    """Our objective's cost (one VGG forward and backward on the result) at `long_side` px."""
    from visiontk.style import Stylizer
    from visiontk.style.transfer import resize

    tf = runtime.tensorflow()
    stylizer = Stylizer(painting, backbone="vgg16", precision=precision)
    here = resize_long_side(photo, long_side).astype(np.float32)
    features = stylizer._features(here)
    targets = ([features[n] for n in stylizer.content_layers], stylizer.style_targets(long_side))
    image = tf.constant(resize(here, here.shape[1::-1]))
    stylizer._objective(image, *targets)
    best = np.inf
    for _ in range(repeats):
        started = time.perf_counter()
        loss, grad, _ = stylizer._objective(image, *targets)
        grad.numpy()
        best = min(best, time.perf_counter() - started)
    return here.shape[1], here.shape[0], best


def run_cli(content: Path, style: Path, output: Path, extra: list[str]) -> tuple[float, dict]:
    """Time `visiontk stylize` as a user runs it: a fresh process, start-up included."""
    command = [sys.executable, "-m", "visiontk", "-q", "stylize", str(content), str(style), "-o", str(output),
               "--backbone", "vgg16", "--json", *extra]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"visiontk stylize failed ({done.returncode}): {done.stderr.strip()}")
    return seconds, json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--content", type=Path, default=SHARED / "data/content/chelsea.png")
    parser.add_argument("--style", type=Path, default=SHARED / "data/style/starry_night.jpg")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--baseline-seconds", type=float, default=240.0)
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "stylize_bench")
    parser.add_argument("--speed-only", action="store_true", help="Only seconds per iteration and FLOP/s.")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
          "(shared with other jobs: timings are noisy)")
    photo = resize_long_side(read_image(args.content), args.size)
    painting = read_image(args.style)
    report: dict = {"load_average_start": load}
    if not args.speed_only:
        compare_with_baseline(args, photo, painting, report)
    measure_speed(args, painting, report)
    report["load_average_end"] = os.getloadavg()
    print(f"\nload average at the end: {report['load_average_end'][0]:.2f}")
    (args.out / "report.json").write_text(json.dumps(report, indent=2))
    print(f"images and report.json in {args.out}")


def compare_with_baseline(args, photo: np.ndarray, painting: np.ndarray, report: dict) -> None:
    """Ours (the real CLI, default settings) and the keras.io loop, judged alike."""
    from visiontk.imageio import write_image

    judge = Judge(photo, painting)

    print("\n== ours: `visiontk stylize` with default settings (fresh process, start-up included) ==")
    runs = {"ours": [], "ours_float32": ["--precision", "float32"]}
    for name, extra in runs.items():
        ours_path = args.out / f"{name}.png"
        ours_path.unlink(missing_ok=True)
        seconds, record = run_cli(args.content, args.style, ours_path, ["--size", str(args.size), *extra])
        scores = judge(read_image(ours_path))
        report[name] = {"seconds": seconds, "iterations": record["iterations"], "precision": record["precision"],
                        "optimising_seconds": record["seconds"], **scores}
        print(f"{' '.join(['defaults', *extra])}: {seconds:.1f} s wall ({record['seconds']:.1f} s optimising, "
              f"{record['iterations']} iterations, VGG in {record['precision']}): style distance "
              f"{scores['style_distance']:.4f}, content distance {scores['content_distance']:.4f}")
    ours, seconds = report["ours"], report["ours"]["seconds"]

    print(f"\n== BASELINE: keras.io example loop, {args.baseline_seconds:.0f} s ==")
    checkpoints = tuple(sorted({round(seconds, 1), round(report["ours_float32"]["seconds"], 1),
                                args.baseline_seconds / 2, args.baseline_seconds}))
    snapshots = keras_io_baseline(photo, painting, args.baseline_seconds, checkpoints)
    report["baseline"] = []
    for at, (image, steps) in sorted(snapshots.items()):
        scores = judge(image)
        report["baseline"].append({"seconds": at, "iterations": steps, **scores})
        print(f"after {at:6.1f} s ({steps:4d} iterations): style distance {scores['style_distance']:.4f}, "
              f"content distance {scores['content_distance']:.4f}")
    write_image(args.out / "baseline.png", snapshots[max(snapshots)][0], overwrite=True)
    final = report["baseline"][-1]
    beat = ours["style_distance"] <= final["style_distance"] and \
        ours["content_distance"] <= final["content_distance"]
    report["target_met"] = bool(beat and seconds <= final["seconds"] / 5)
    print(f"\ntarget (both distances at least as good as the baseline's after {final['seconds']:.0f} s, "
          f"in at most {final['seconds'] / 5:.0f} s): {'MET' if report['target_met'] else 'NOT met'} "
          f"(ours {seconds:.1f} s = 1/{final['seconds'] / seconds:.1f} of the baseline's time)")


def measure_speed(args, painting: np.ndarray, report: dict) -> None:
    """Seconds per iteration at 256 and 512 px, and the share of the measured matmul peak."""
    print("\n== seconds per iteration (VGG16, forward + backward on the result) and share of peak ==")
    report["peak_gflops"], report["per_iteration"] = {}, []
    for precision in ("bfloat16", "float32"):
        peak = peak_flops(precision)
        report["peak_gflops"][precision] = peak / 1e9
        print(f"peak {precision} matmul: {peak / 1e9:.0f} GFLOP/s (2048² and 4096², best of 5 each, measured now)")
        for long_side in (256, 512):
            width, height, per_iteration = seconds_per_iteration(read_image(args.content), painting,
                                                                 long_side, precision)
            # The backward pass computes only the convolutions' input gradients: as many FLOPs again.
            flops = 2 * vgg_forward_flops(width, height, "block5_conv1")
            share = flops / per_iteration / peak
            report["per_iteration"].append({"precision": precision, "width": width, "height": height,
                                            "seconds": per_iteration, "gflops": flops / 1e9,
                                            "peak_fraction": share})
            print(f"  {precision} {width}x{height}: {per_iteration:.3f} s/iteration, {flops / 1e9:.1f} GFLOP, "
                  f"{flops / per_iteration / 1e9:.0f} GFLOP/s = {100 * share:.0f}% of the {precision} peak")
    print("  (TensorFlow's bfloat16 matmul does not reach the AMX units' rate that oneDNN's bfloat16 "
          "convolutions get, so the bfloat16 'peak' here is a floor and the share can pass 100%)")


if __name__ == "__main__":
    main()
