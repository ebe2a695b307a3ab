"""The weight sets of the shared backbones (ImageNet VGG for the perceptual losses). Loaded through the
`visiontk.catalogs` entry point (visiontk.plugins)."""
from __future__ import annotations

from visiontk.weights import KnownFile, WeightSpec, register

KERAS_APPS = "https://storage.googleapis.com/tensorflow/keras-applications"


def register_keras_application(name: str, description: str, filename: str, md5: str, tag: str,
                               size: int | None = None, *also: KnownFile,
                               url: str | None = None) -> WeightSpec:
    """Weights Keras publishes for keras.applications (downloaded on first use, checked by md5 as Keras
    does); `also`: other files holding the same weights; `url`: where the file is, when it is not in
    the releases folder named after the file (as VGG's are)."""
    url = url or f"{KERAS_APPS}/{filename.split('_weights')[0]}/{filename}"
    return register(WeightSpec(
        name=name, description=description, source="download from the Keras applications releases",
        files=(KnownFile(filename, md5=md5, url=url, size=size), *also),
        tags=(tag,)))


register_keras_application(
    "vgg16-imagenet", "VGG16 convolutional layers trained on ImageNet (Keras applications, no classifier top)",
    "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5", "6d6bbae143d832006294945121d1f1fc", "backbone", 58889256,
    # The same weights saved in the Keras 3 format.
    KnownFile("vgg16_imagenet_notop.weights.h5",
              sha256="a2f51117308129c3de9a523c91d35160eb75a6a9e5db1e2afb4f48e48dfb733a"))
register_keras_application(
    "vgg19-imagenet", "VGG19 convolutional layers trained on ImageNet (Keras applications, no classifier top)",
    "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5", "253f8cb515780f3b799900260a226db6", "backbone", 80134624)
# Image-similarity descriptors (backbones.descriptors): last convolutional blocks, URLs and md5 as
# keras.applications' resnet.py and efficientnet.py name them.
register_keras_application(
    "resnet50-imagenet",
    "ResNet50 convolutional layers trained on ImageNet (Keras applications, no classifier top)",
    "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5", "4d473c1dd8becc155b73f8504c6f6626", "backbone",
    url=f"{KERAS_APPS}/resnet/resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5")
register_keras_application(
    "efficientnetb0-imagenet", "EfficientNetB0 trained on ImageNet (Keras applications, no classifier top)",
    "efficientnetb0_notop.h5", "50bc09e76180e00e4465e1a485ddc09d", "backbone",
    url="https://storage.googleapis.com/keras-applications/efficientnetb0_notop.h5")
