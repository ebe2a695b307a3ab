"""Writing an export in one of the formats (SavedModel, TFLite, ONNX), checked against Keras before it takes its name."""
from __future__ import annotations

import importlib.util
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from visiontk.atomic import atomic_output, check_output
from visiontk.errors import UsageError
from visiontk.serving.check import compare
from visiontk.serving.onnx import ONNX_MISSING, onnx_bytes, onnx_runner
from visiontk.serving.registry import Exportable
from visiontk.serving.savedmodel import atomic_folder, check_folder_output, savedmodel_runner, write_savedmodel
from visiontk.serving.tflite import tflite_bytes, tflite_runner

log = logging.getLogger("visiontk.serving")

FORMATS = ("savedmodel", "tflite", "onnx")
QUANTIZE = ("none", "float16", "dynamic")


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
        check_folder_output(output, overwrite)
        with atomic_folder(output, overwrite) as tmp:
            write_savedmodel(exportable, tmp)
            record.update(_checked(exportable, savedmodel_runner(tmp), check_image, quantize))
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
            data, facts["tflite_select_tf_ops"] = tflite_bytes(exportable, Path(work), quantize)
        else:
            data = onnx_bytes(exportable)
        written.write_bytes(data)
        if facts.get("tflite_select_tf_ops"):
            # The Python interpreter here has no Flex delegate to run it with.
            log.warning("%s: the TFLite file uses TensorFlow ops (a phone needs the Select TF ops "
                        "library); not checked against Keras here", exportable.name)
            run = None
        else:
            run = tflite_runner(written) if fmt == "tflite" else onnx_runner(written)
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
        raise UsageError("float16 and dynamic quantization are TFLite options (use `fmt` tflite)")
    if fmt == "onnx" and importlib.util.find_spec("tf2onnx") is None:
        raise UsageError(ONNX_MISSING)


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def runner(path: Path, fmt: str) -> Callable[[np.ndarray], np.ndarray | dict[str, np.ndarray]]:
    """A function running an export written by `export`: numpy in; numpy out, or a dict of them by
    name for a network with several outputs."""
    run = {"savedmodel": savedmodel_runner, "tflite": tflite_runner, "onnx": onnx_runner}[fmt](Path(path))

    def single_or_all(inputs: np.ndarray):
        outputs = run(inputs)
        return next(iter(outputs.values())) if len(outputs) == 1 else outputs

    return single_or_all
