"""Exporting a network for serving: a SavedModel whose signature takes uint8 images, a TFLite file
(float32, float16 or dynamic-range int8 weights) or an ONNX file, each checked against Keras.

This module knows no task. A task registers its deployable networks in its catalog module
(visiontk.plugins) with `register(Deployable(...))`: the names it answers to, whether it claims a
file, and how to build the Keras network with its weights (an `Exportable`).
"""
from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from visiontk.errors import BadInputError, UsageError, VisiontkError
from visiontk.atomic import _umask, atomic_output, check_output
from visiontk.runtime import tensorflow

log = logging.getLogger("visiontk.serving")

FORMATS = ("savedmodel", "tflite", "onnx")
QUANTIZE = ("none", "float16", "dynamic")
# How close an export must come to Keras on the check input: pixels within one level of 255 and
# embeddings pointing the same way. Quantized weights are held to what they can do (and say so).
# Dynamic-range quantization also quantizes activations on the fly, so its error depends on the
# network (EDSR: 3 levels, the DCGAN: 40): it is measured and reported, never refused.
IMAGE_TOLERANCE = {"none": 1, "float16": 2}        # uint8 levels
VECTOR_COSINE = {"none": 0.999, "float16": 0.999}
TENSOR_TOLERANCE = {"none": 1e-3, "float16": 1e-2}  # largest absolute difference of raw outputs


@dataclass
class Exportable:
    """A Keras network on float inputs and how its served signature wraps it."""

    name: str
    model: Any                          # keras.Model
    input_shape: tuple                  # without the batch axis; None = any size
    input_dtype: str = "uint8"          # uint8 pixels 0..255, or float32 (latent vectors)
    # image: uint8 pixels; vector: float32 (e.g. an embedding); tensors: several float32 outputs,
    # named by output_names, in the order the network returns them
    output: str = "image"
    output_range: tuple[float, float] = (0.0, 255.0)   # what the network's image output spans
    input_scale: float = 1.0            # the network sees pixels * input_scale + input_offset
    input_offset: float = 0.0
    output_names: tuple[str, ...] = ()
    sample: Callable[[Path | None], np.ndarray] | None = None  # a batch of one real input to check with
    info: dict = field(default_factory=dict)

    @property
    def input_name(self) -> str:
        return "images" if self.input_dtype == "uint8" else "latents"

    @property
    def output_name(self) -> str:
        # Not "images": an output named like the input confuses tf2onnx.
        return "output_images" if self.output == "image" else "embeddings"


@dataclass(frozen=True)
class Deployable:
    """A task's registration: `build(source)` makes the Exportable for a registry name it answers to
    (`names`) or a file `claims(path)` says is its own."""

    kind: str
    names: tuple[str, ...]
    claims: Callable[[Path], bool]
    build: Callable[[str], Exportable]


_REGISTRY: list[Deployable] = []


def register(deployable: Deployable) -> Deployable:
    _REGISTRY.append(deployable)
    return deployable


def deployables() -> list[Deployable]:
    from visiontk.plugins import load_catalogs   # the tasks register theirs (this module knows no task)

    load_catalogs()
    return list(_REGISTRY)


def resolve(source: str) -> Exportable:
    """The network a registry name or file stands for."""
    tensorflow()  # first, so that its start-up chatter stays hidden
    for entry in deployables():
        if source in entry.names:
            return entry.build(source)
    path = Path(source)
    if not path.exists():
        names = ", ".join(name for entry in deployables() for name in entry.names)
        raise BadInputError(f"{source}: no such file, and not an exportable model name ({names})")
    for entry in deployables():
        if entry.claims(path):
            return entry.build(source)
    kinds = ", ".join(entry.kind for entry in deployables())
    raise BadInputError(f"{source}: not a network visiontk can export (it exports {kinds})")


# ---- the serving function ---------------------------------------------------------------------------

def serving_function(exportable: Exportable):
    """uint8 images (or float latents) in, uint8 images (or float vectors) out, as a dict."""
    tf = tensorflow()
    low, high = exportable.output_range

    def serve(inputs):
        pixels = tf.cast(inputs, tf.float32) * exportable.input_scale + exportable.input_offset
        outputs = exportable.model(pixels, training=False)
        if exportable.output == "tensors":
            return dict(zip(exportable.output_names, outputs))
        if exportable.output == "image":
            pixels = tf.clip_by_value((outputs - low) * (255.0 / (high - low)), 0.0, 255.0)
            outputs = tf.cast(tf.round(pixels), tf.uint8)
        return {exportable.output_name: outputs}

    spec = tf.TensorSpec((None, *exportable.input_shape), exportable.input_dtype, name=exportable.input_name)
    return serve, spec


def keras_outputs(exportable: Exportable, inputs: np.ndarray) -> dict[str, np.ndarray]:
    serve, _ = serving_function(exportable)
    return {name: np.asarray(value) for name, value in serve(inputs).items()}


# ---- formats ------------------------------------------------------------------------------------------

def export(exportable: Exportable, output: Path, fmt: str, quantize: str = "none",
           overwrite: bool = False, check_image: Path | None = None) -> dict:
    """Write `exportable` as `fmt` to `output`; check the result against Keras on a real input."""
    check_options(fmt, quantize)
    output = Path(output)
    record = {"model": exportable.name, "format": fmt, "quantize": quantize, "output": str(output),
              "input_name": exportable.input_name, "input_dtype": exportable.input_dtype,
              "input_shape": [None, *exportable.input_shape],
              "output_kind": exportable.output,
              "output_names": list(exportable.output_names) or [exportable.output_name],
              **exportable.info}
    # The export is checked where it is written, before it takes its name: a bad one is never left.
    if fmt == "savedmodel":
        _check_folder_output(output, overwrite)
        with _atomic_folder(output, overwrite) as tmp:
            _write_savedmodel(exportable, tmp)
            record.update(_checked(exportable, _savedmodel_runner(tmp), check_image, quantize))
    else:
        record.update(_export_file(exportable, output, fmt, quantize, overwrite, check_image))
    record["bytes"] = _size(output)
    return record


def _export_file(exportable: Exportable, output: Path, fmt: str, quantize: str, overwrite: bool,
                 check_image: Path | None) -> dict:
    """A TFLite or ONNX file, checked in a scratch folder, then put in place."""
    check_output(output, overwrite)
    facts: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix=".visiontk-export-") as work:
        written = Path(work) / f"model.{fmt}"
        if fmt == "tflite":
            data, facts["tflite_select_tf_ops"] = _tflite_bytes(exportable, Path(work), quantize)
        else:
            data = _onnx_bytes(exportable)
        written.write_bytes(data)
        if facts.get("tflite_select_tf_ops"):
            # The Python interpreter here has no Flex delegate to run it with.
            log.warning("%s: the TFLite file uses TensorFlow ops (a phone needs the Select TF ops "
                        "library); not checked against Keras here", exportable.name)
            run = None
        else:
            run = _tflite_runner(written) if fmt == "tflite" else _onnx_runner(written)
        facts.update(_checked(exportable, run, check_image, quantize))
        with atomic_output(output, overwrite) as tmp:
            shutil.copyfile(written, tmp)
    return facts


def _checked(exportable: Exportable, run, check_image: Path | None, quantize: str) -> dict:
    if run is None or exportable.sample is None:
        return {"checked": False}
    return {"checked": True, **compare(exportable, run, exportable.sample(check_image), quantize)}


def check_options(fmt: str, quantize: str) -> None:
    """Refuse a format/quantization pair before any work."""
    if fmt not in FORMATS:
        raise UsageError(f"format {fmt!r}: use one of {', '.join(FORMATS)}")
    if quantize not in QUANTIZE:
        raise UsageError(f"quantization {quantize!r}: use one of {', '.join(QUANTIZE)}")
    if quantize != "none" and fmt != "tflite":
        raise UsageError("float16 and dynamic quantization are TFLite options (use --format tflite)")
    if fmt == "onnx" and importlib.util.find_spec("tf2onnx") is None:
        raise UsageError(ONNX_MISSING)


def _check_folder_output(output: Path, overwrite: bool) -> None:
    if output.exists() and not overwrite:
        raise BadInputError(f"{output}: exists (use --overwrite to replace it)")
    if output.exists() and not (output / "saved_model.pb").is_file():
        raise BadInputError(f"{output}: exists and is not a SavedModel; not replaced")


@contextlib.contextmanager
def _atomic_folder(path: Path, overwrite: bool) -> Iterator[Path]:
    """A temporary folder beside `path`, renamed onto it on success (with the umask's mode), removed
    on failure."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    os.chmod(tmp, 0o777 & ~_umask())   # mkdtemp makes it 0700
    if path.exists() and overwrite:
        shutil.rmtree(path)
    tmp.replace(path)


def _write_savedmodel(exportable: Exportable, folder: Path) -> None:
    import keras

    serve, spec = serving_function(exportable)
    archive = keras.export.ExportArchive()
    archive.track(exportable.model)
    archive.add_endpoint(name="serve", fn=serve, input_signature=[spec])
    archive.write_out(str(folder), verbose=False)


def _tflite_bytes(exportable: Exportable, work: Path, quantize: str) -> tuple[bytes, bool]:
    """The TFLite file, and whether it needs TensorFlow's own kernels for some ops (the Select TF ops,
    "Flex" delegate): only when the built-in ops can't express the network."""
    tf = tensorflow()
    _write_savedmodel(exportable, work / "savedmodel")
    failure = None
    for select_ops in (False, True):
        converter = tf.lite.TFLiteConverter.from_saved_model(str(work / "savedmodel"))
        if quantize != "none":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]   # weights only: no calibration data
        if quantize == "float16":
            converter.target_spec.supported_types = [tf.float16]
        if select_ops:
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS,
                                                   tf.lite.OpsSet.SELECT_TF_OPS]
        try:
            return converter.convert(), select_ops
        except Exception as exc:  # the converter raises its own kinds for unsupported ops
            failure = failure or exc
    raise VisiontkError(f"{exportable.name}: TFLite conversion failed ({type(failure).__name__}: "
                        f"{str(failure).splitlines()[0] if str(failure) else ''})") from None


ONNX_MISSING = ("ONNX export needs tf2onnx and onnx (pip install tf2onnx onnxruntime); tf2onnx 1.17 "
                "converts TensorFlow 2.21 SavedModels here")


def _onnx_bytes(exportable: Exportable) -> bytes:
    try:
        import tf2onnx
    except ImportError:
        raise UsageError(ONNX_MISSING) from None
    tf = tensorflow()
    serve, spec = serving_function(exportable)
    function = tf.function(serve, input_signature=[spec])
    try:
        proto, _ = tf2onnx.convert.from_function(function, input_signature=[spec], opset=17)
    except Exception as exc:  # tf2onnx raises its own kinds for unsupported ops
        raise VisiontkError(f"{exportable.name}: ONNX conversion failed ({type(exc).__name__}: "
                            f"{exc})") from None
    return proto.SerializeToString()


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


# ---- running an export and comparing it with Keras ----------------------------------------------------

def _savedmodel_runner(folder: Path):
    tf = tensorflow()
    loaded = tf.saved_model.load(str(folder))
    signature = loaded.signatures["serving_default"]

    def run(inputs: np.ndarray) -> dict[str, np.ndarray]:
        return {name: value.numpy() for name, value in signature(tf.constant(inputs)).items()}

    return run


def _tflite_runner(path: Path):
    tf = tensorflow()
    with warnings.catch_warnings():   # "deprecated in favour of ai_edge_litert", which we don't depend on
        warnings.simplefilter("ignore")
        interpreter = tf.lite.Interpreter(model_path=str(path), num_threads=os.cpu_count())
    runner = interpreter.get_signature_runner()
    name = next(iter(interpreter.get_signature_list().values()))["inputs"][0]

    def run(inputs: np.ndarray) -> dict[str, np.ndarray]:
        return dict(runner(**{name: inputs}))

    return run


def _onnx_runner(path: Path):
    try:
        import onnxruntime
    except ImportError:
        return None
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name

    outputs = [output.name for output in session.get_outputs()]

    def run(inputs: np.ndarray) -> dict[str, np.ndarray]:
        return dict(zip(outputs, session.run(None, {name: inputs})))

    return run


def compare(exportable: Exportable, run: Callable[[np.ndarray], dict], inputs: np.ndarray,
            quantize: str = "none") -> dict:
    """How far the export's outputs are from Keras's on `inputs` (images: in units of the 0..1 range);
    VisiontkError if beyond the tolerance of its quantization."""
    expected, got = keras_outputs(exportable, inputs), run(inputs)
    # Matched by name; a converter that renamed them keeps their order.
    got = [got[name] for name in expected] if set(got) == set(expected) else list(got.values())
    for name, mine, theirs in zip(expected, expected.values(), got):
        if np.shape(theirs) != mine.shape:
            raise VisiontkError(f"{exportable.name}: export gives {name} of shape {np.shape(theirs)}, "
                                f"Keras {mine.shape}")
    result, ok = _difference(exportable.output, list(expected.values()), got, quantize)
    if not ok:
        raise VisiontkError(f"{exportable.name}: the export differs from Keras beyond tolerance ({result})")
    return result


def _difference(kind: str, expected: list[np.ndarray], got: list, quantize: str) -> tuple[dict, bool]:
    if kind == "tensors":
        diff = max(float(np.abs(np.asarray(b, np.float32) - a).max()) for a, b in zip(expected, got))
        return {"check_max_abs_diff": round(diff, 6)}, diff <= TENSOR_TOLERANCE.get(quantize, np.inf)
    a, b = expected[0], np.asarray(got[0])
    if kind == "image":
        levels = np.abs(b.astype(np.int16) - a.astype(np.int16))
        return ({"check_max_abs_diff": round(int(levels.max()) / 255, 6),
                 "check_mean_abs_diff": round(float(levels.mean()) / 255, 6)},
                int(levels.max()) <= IMAGE_TOLERANCE.get(quantize, 255))
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1).astype(np.float32)
    cosine = float(np.min(np.sum(a * b, 1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))))
    return {"check_cosine": round(cosine, 6)}, cosine >= VECTOR_COSINE.get(quantize, -1.0)


def latency(run: Callable[[np.ndarray], np.ndarray], inputs: np.ndarray, repeats: int = 5) -> float:
    """Median seconds per call after one warm-up call."""
    run(inputs)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(inputs)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def runner(path: Path, fmt: str) -> Callable[[np.ndarray], np.ndarray | dict[str, np.ndarray]]:
    """A function running an export written by `export`: numpy in; numpy out, or a dict of them by
    name for a network with several outputs."""
    run = {"savedmodel": _savedmodel_runner, "tflite": _tflite_runner, "onnx": _onnx_runner}[fmt](Path(path))

    def single_or_all(inputs: np.ndarray):
        outputs = run(inputs)
        return next(iter(outputs.values())) if len(outputs) == 1 else outputs

    return single_or_all


CHECK_SIDE = 96   # the check crop of image-to-image networks: small, so exporting stays quick


def check_image(path: Path | None, side: int | None = None) -> np.ndarray:
    """A batch of one uint8 RGB image: the centre crop (or resize, `side`) of `path`, or without a path
    a synthetic test card (gradients, edges and noise, so every layer sees varied input)."""
    from PIL import Image

    from visiontk.imageio import read_image

    if path is None:
        y, x = np.mgrid[0:CHECK_SIDE, 0:CHECK_SIDE] / CHECK_SIDE
        noise = np.random.default_rng(0).uniform(0, 60, (CHECK_SIDE, CHECK_SIDE, 3))
        card = np.stack([x * 200, y * 200, ((x > 0.5) ^ (y > 0.5)) * 150], -1) + noise
        rgb = np.clip(card, 0, 255).astype(np.uint8)
    else:
        rgb = read_image(path)
    if side is not None:
        rgb = np.asarray(Image.fromarray(rgb).resize((side, side), Image.BICUBIC))
    else:
        top, left = max(0, (rgb.shape[0] - CHECK_SIDE) // 2), max(0, (rgb.shape[1] - CHECK_SIDE) // 2)
        rgb = rgb[top:top + CHECK_SIDE, left:left + CHECK_SIDE]
    return rgb[None]


def weights_file_claims(read_structure: Callable[[Path], Any]) -> Callable[[Path], bool]:
    """A Deployable's `claims` for .weights.h5 files: those `read_structure` reads without a WeightsError
    (it reads the network's shape from the file's kernels)."""
    from visiontk.errors import WeightsError

    def claims(path: Path) -> bool:
        if not (path.is_file() and path.name.endswith(".weights.h5")):
            return False
        try:
            read_structure(path)
        except WeightsError:
            return False
        return True

    return claims
