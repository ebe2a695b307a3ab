"""VGG16/VGG19 feature extractors with ImageNet weights from the registry.

Used by style transfer and by any perceptual metric: give it the layer names you want and it returns
their activations for images in [0, 255] RGB (the "caffe" preprocessing is done inside the model).
"""
from __future__ import annotations

from typing import Sequence

from visiontk import runtime
from visiontk.errors import VisiontkError, WeightsError
from visiontk.weights import resolve

VGG_WEIGHTS = {"vgg16": "vgg16-imagenet", "vgg19": "vgg19-imagenet"}
# ImageNet channel means in BGR order, as Keras' caffe-mode preprocess_input subtracts them.
IMAGENET_BGR_MEAN = (103.939, 116.779, 123.68)


def vgg_layer_names(name: str) -> list[str]:
    """The convolution layer names of a VGG network, in order (block1_conv1 ... block5_conv3/4)."""
    per_block = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}[_check_name(name)]
    return [f"block{b}_conv{c}" for b, n in enumerate(per_block, 1) for c in range(1, n + 1)]


def _check_name(name: str) -> str:
    if name not in VGG_WEIGHTS:
        raise VisiontkError(f"unknown backbone {name!r}: use {' or '.join(VGG_WEIGHTS)}")
    return name


def load_vgg(name: str = "vgg19"):
    """The ImageNet-trained convolutional part of VGG16 or VGG19 (no classifier), any input size."""
    runtime.tensorflow()
    import keras

    path = resolve(VGG_WEIGHTS[_check_name(name)])
    builder = keras.applications.VGG16 if name == "vgg16" else keras.applications.VGG19
    try:
        model = builder(include_top=False, weights=str(path), input_shape=(None, None, 3))
    except (OSError, ValueError, KeyError) as exc:
        raise WeightsError(f"{path}: could not load {name} weights ({exc}); "
                           f"run `visiontk models verify`") from None
    model.trainable = False
    return model


def vgg_extractor(name: str = "vgg19", layers: Sequence[str] = ("block4_conv2",)):
    """A Keras model mapping RGB images in [0, 255], shape (N, H, W, 3), to a dict of the named layers'
    activations. Only the part of VGG up to the deepest requested layer is kept."""
    runtime.tensorflow()
    import keras

    known = vgg_layer_names(name)
    unknown = [layer for layer in layers if layer not in known]
    if unknown:
        raise VisiontkError(f"{name} has no layer {', '.join(unknown)} (layers: {', '.join(known)})")
    vgg = load_vgg(name)
    rgb = keras.Input(shape=(None, None, 3), name="rgb")
    bgr = keras.ops.flip(rgb, axis=-1) - keras.ops.convert_to_tensor(IMAGENET_BGR_MEAN)
    outputs = keras.Model(vgg.input, {layer: vgg.get_layer(layer).output for layer in layers})(bgr)
    model = keras.Model(rgb, outputs, name=f"{name}_features")
    model.trainable = False
    return model
