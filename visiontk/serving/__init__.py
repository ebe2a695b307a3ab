"""Exporting a network for serving: a SavedModel whose signature takes uint8 images, a TFLite file
(float32, float16 or dynamic-range int8 weights) or an ONNX file, each checked against Keras.

This package knows no task. A task registers its deployable networks in its catalog module
(visiontk.plugins) with `register(Deployable(...))`: the names it answers to, whether it claims a
file, and how to build the Keras network with its weights (an `Exportable`).

    registry.py     Exportable, Deployable, register, resolve (a name or file -> the network)
    signature.py    the served signature (uint8 in, uint8/float out) all formats share
    savedmodel.py, tflite.py, onnx.py    each format: written, and run back
    formats.py      export (any format, checked before it takes its name), runner
    check.py        compare with Keras, the tolerances, check_image, latency
"""
from __future__ import annotations

from visiontk.serving.check import (CHECK_SIDE, IMAGE_TOLERANCE, TENSOR_TOLERANCE, VECTOR_COSINE, check_image,
                                    compare, latency)
from visiontk.serving.formats import FORMATS, QUANTIZE, check_options, export, runner
from visiontk.serving.onnx import ONNX_MISSING
from visiontk.serving.registry import (Deployable, Exportable, deployables, register, resolve,
                                       weights_file_claims)
from visiontk.serving.signature import keras_outputs, serving_function

__all__ = ["CHECK_SIDE", "Deployable", "Exportable", "FORMATS", "IMAGE_TOLERANCE", "ONNX_MISSING", "QUANTIZE",
           "TENSOR_TOLERANCE", "VECTOR_COSINE", "check_image", "check_options", "compare", "deployables",
           "export", "keras_outputs", "latency", "register", "resolve", "runner", "serving_function",
           "weights_file_claims"]
