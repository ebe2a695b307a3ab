"""The TFLite format: float32, float16 or dynamic-range int8 weights, converted from the SavedModel, and run back."""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from visiontk.errors import VisiontkError
from visiontk.runtime import tensorflow
from visiontk.serving.registry import Exportable
from visiontk.serving.savedmodel import write_savedmodel


def tflite_bytes(exportable: Exportable, work: Path, quantize: str) -> tuple[bytes, bool]:
    """The TFLite file, and whether it needs TensorFlow's own kernels for some ops (the Select TF ops,
    "Flex" delegate): only when the built-in ops can't express the network."""
    tf = tensorflow()
    write_savedmodel(exportable, work / "savedmodel")
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


def tflite_runner(path: Path):
    """Run the TFLite file at `path` with TensorFlow's interpreter: numpy in, its outputs by name out."""
    tf = tensorflow()
    with warnings.catch_warnings():   # "deprecated in favour of ai_edge_litert", which we don't depend on
        warnings.simplefilter("ignore")
        interpreter = tf.lite.Interpreter(model_path=str(path), num_threads=os.cpu_count())
    runner = interpreter.get_signature_runner()
    name = next(iter(interpreter.get_signature_list().values()))["inputs"][0]

    def run(inputs: np.ndarray) -> dict[str, np.ndarray]:
        return dict(runner(**{name: inputs}))

    return run
