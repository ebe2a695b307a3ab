"""The served signature every format shares: uint8 images (or float latents) in, uint8 images (or floats) out."""
from __future__ import annotations

import numpy as np

from visiontk.runtime import tensorflow
from visiontk.serving.registry import Exportable


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
    """What the served signature gives on `inputs`, computed by Keras: the reference an export must match."""
    serve, _ = serving_function(exportable)
    return {name: np.asarray(value) for name, value in serve(inputs).items()}
