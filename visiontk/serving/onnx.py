"""The ONNX format: the served signature converted by tf2onnx, and run back with onnxruntime where installed."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from visiontk.errors import UsageError, VisiontkError
from visiontk.runtime import tensorflow
from visiontk.serving.registry import Exportable
from visiontk.serving.signature import serving_function

ONNX_MISSING = ("ONNX export needs tf2onnx and onnx (pip install tf2onnx onnxruntime); tf2onnx 1.17 "
                "converts TensorFlow 2.21 SavedModels here")


def onnx_bytes(exportable: Exportable) -> bytes:
    """The ONNX file of the network's served signature (opset 17)."""
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


def onnx_runner(path: Path):
    """Run the ONNX file at `path` with onnxruntime on the CPU; None without onnxruntime."""
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
