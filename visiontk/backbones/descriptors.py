"""Global image descriptors from a pretrained network's last convolutional block (Radenović et al.'s
GeM, Tolias et al.'s R-MAC, plain MAC): one L2-normalised vector per image, whose inner products rank
images of the same scene or object first, even after crops and rescaling.

`feature_map_model(name)` maps RGB images in [0, 255] to the last block's activations; the pooling
functions turn those (N, H, W, C) maps into (N, C) descriptors in NumPy, so one forward pass can be
pooled several ways.
"""
from __future__ import annotations

import numpy as np

from visiontk import runtime
from visiontk.errors import VisiontkError, WeightsError
from visiontk.weights import resolve

# name -> (weight set, keras.applications builder, its last convolutional output, input preprocessing)
# "caffe": BGR minus the ImageNet means (VGG, ResNet50); "none": the network rescales inside (EfficientNet).
DESCRIPTOR_BACKBONES = {
    "vgg16": ("vgg16-imagenet", "VGG16", "block5_conv3", "caffe"),
    "resnet50": ("resnet50-imagenet", "ResNet50", "conv5_block3_out", "caffe"),
    "efficientnetb0": ("efficientnetb0-imagenet", "EfficientNetB0", "top_activation", "none"),
}
POOLINGS = ("gem", "rmac", "mac")
GEM_POWER = 3.0   # Radenović et al.'s p for off-the-shelf networks
IMAGENET_BGR_MEAN = (103.939, 116.779, 123.68)


def check_backbone(name: str) -> str:
    if name not in DESCRIPTOR_BACKBONES:
        raise VisiontkError(f"unknown backbone {name!r}: use {', '.join(DESCRIPTOR_BACKBONES)}")
    return name


def feature_map_model(name: str = "vgg16"):
    """A Keras model: RGB images in [0, 255], (N, H, W, 3) of any size, to the network's last
    convolutional activations (N, h, w, C), ImageNet weights from the registry."""
    runtime.tensorflow()
    import keras

    weights, builder_name, layer, preprocessing = DESCRIPTOR_BACKBONES[check_backbone(name)]
    path = resolve(weights)
    builder = getattr(keras.applications, builder_name)
    try:
        network = builder(include_top=False, weights=str(path), input_shape=(None, None, 3))
    except (OSError, ValueError, KeyError) as exc:
        raise WeightsError(f"{path}: could not load {name} weights ({exc}); "
                           "run `visiontk models verify`") from None
    rgb = keras.Input(shape=(None, None, 3), name="rgb")
    pixels = rgb
    if preprocessing == "caffe":
        pixels = keras.ops.flip(rgb, axis=-1) - keras.ops.convert_to_tensor(IMAGENET_BGR_MEAN)
    trunk = keras.Model(network.input, network.get_layer(layer).output)
    model = keras.Model(rgb, trunk(pixels), name=f"{name}_feature_map")
    model.trainable = False
    return model


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def gem(maps: np.ndarray, power: float = GEM_POWER) -> np.ndarray:
    """Generalised mean pooling: (mean of x^p over the map)^(1/p) per channel; p=1 is average pooling,
    p -> inf is max pooling. In between, strong local responses count most, which keeps the descriptor
    of a cropped photo close to the whole's."""
    clamped = np.maximum(np.asarray(maps, np.float32), 1e-6)
    return l2_normalize(np.mean(clamped ** power, axis=(1, 2)) ** (1.0 / power))


def mac(maps: np.ndarray) -> np.ndarray:
    """Maximum activation of each channel."""
    return l2_normalize(np.max(np.asarray(maps, np.float32), axis=(1, 2)))


def rmac(maps: np.ndarray, levels: int = 3) -> np.ndarray:
    """Regional MAC: max-pool square regions at `levels` scales (about 40% overlap), L2-normalise each
    region's vector and sum them, so that any large enough part of the image has its own say."""
    maps = np.asarray(maps, np.float32)
    total = np.zeros((maps.shape[0], maps.shape[3]), np.float32)
    for top, left, side_h, side_w in rmac_regions(maps.shape[1], maps.shape[2], levels):
        total += l2_normalize(np.max(maps[:, top:top + side_h, left:left + side_w], axis=(1, 2)))
    return l2_normalize(total)


def rmac_regions(height: int, width: int, levels: int = 3) -> list[tuple[int, int, int, int]]:
    """(top, left, height, width) of R-MAC's regions on a height x width map: the whole map, and at each
    level l = 1..levels squares of side 2*min(height, width)/(l+1), spread evenly along both axes with at
    least 40% overlap between neighbours."""
    regions = {(0, 0, height, width)}
    short = min(height, width)
    for level in range(1, levels + 1):
        side = max(1, int(round(2 * short / (level + 1))))
        for top in _starts(height, side):
            for left in _starts(width, side):
                regions.add((top, left, side, side))
    return sorted(regions)


def _starts(length: int, side: int) -> list[int]:
    """Evenly spaced starts of `side`-long windows covering `length`, each step at most 60% of a side."""
    count = 1 + int(np.ceil(max(0, length - side) / (0.6 * side)))
    if count == 1:
        return [max(0, (length - side) // 2)]
    return [int(round(i * (length - side) / (count - 1))) for i in range(count)]


def pool(maps: np.ndarray, pooling: str = "gem") -> np.ndarray:
    """(N, H, W, C) activations to (N, C) unit-length descriptors with the named pooling."""
    functions = {"gem": gem, "rmac": rmac, "mac": mac}
    if pooling not in functions:
        raise VisiontkError(f"unknown pooling {pooling!r}: use {', '.join(POOLINGS)}")
    return functions[pooling](maps)
