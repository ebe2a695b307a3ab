"""Turn dlib's face ResNet (.dat) into weights for the Keras rebuild, once, cached by the file's sha256."""
from __future__ import annotations

from pathlib import Path

from visiontk import weights
from visiontk.errors import WeightsError
from visiontk.face.dlib_format import (DlibNetwork, affine_weights, conv_weights, fc_weights,
                                       read_dlib_network, residual_plan)

WEIGHTS_NAME = "dlib-face-resnet"


def converted_weights() -> Path:
    """The Keras weights file of the default network, converting dlib's file on first use."""
    source = weights.resolve(WEIGHTS_NAME)
    return weights.converted(WEIGHTS_NAME, source, convert_dlib_file)


def convert_dlib_file(source: Path, target: Path) -> None:
    from visiontk.runtime import tensorflow
    tensorflow()
    model = build_from_dlib(read_dlib_network(source))
    model.save_weights(str(target))


def build_from_dlib(network: DlibNetwork):
    """The Keras network with dlib's weights in it."""
    from visiontk.backbones.dlib_resnet import DLIB_FACE_STAGES, DlibFaceResNet, stage_plan

    if residual_plan(network) != stage_plan(DLIB_FACE_STAGES):
        raise WeightsError("dlib network: its residual blocks differ from "
                           "dlib_face_recognition_resnet_model_v1")
    model = DlibFaceResNet(input_mean=network.input_mean)
    convs = [l for l in network.layers if l.kind == "con"]
    affines = [l for l in network.layers if l.kind == "affine"]
    keras_convs = [l for l in model.layers if l.__class__.__name__ == "Conv2D"]
    keras_affines = [l for l in model.layers if l.__class__.__name__ == "Affine"]
    if len(convs) != len(keras_convs) or len(affines) != len(keras_affines):
        raise WeightsError("dlib network: layer counts differ from the Keras rebuild")
    # Both lists are bottom-up, in the order the layers are applied.
    for dlib_layer, keras_layer in zip(convs, keras_convs):
        in_channels = keras_layer.input.shape[-1]
        kernel, bias = conv_weights(dlib_layer, in_channels)
        keras_layer.set_weights([kernel, bias])
    for dlib_layer, keras_layer in zip(affines, keras_affines):
        keras_layer.set_weights(list(affine_weights(dlib_layer)))
    model.get_layer("embedding").set_weights([fc_weights(network.layers[-1])])
    return model

