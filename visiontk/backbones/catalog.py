"""The weight sets of the shared backbones (ImageNet VGG for the perceptual losses). Loaded through the
`visiontk.catalogs` entry point (visiontk.plugins)."""
from visiontk.weights import KnownFile, WeightSpec, register

KERAS_APPS = "https://storage.googleapis.com/tensorflow/keras-applications"

register(WeightSpec(
    name="vgg16-imagenet",
    description="VGG16 convolutional layers trained on ImageNet (Keras applications, no classifier top)",
    source="download from the Keras applications releases",
    files=(
        KnownFile("vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5", md5="6d6bbae143d832006294945121d1f1fc",
                  url=f"{KERAS_APPS}/vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5", size=58889256),
        # The same weights saved in the Keras 3 format.
        KnownFile("vgg16_imagenet_notop.weights.h5",
                  sha256="a2f51117308129c3de9a523c91d35160eb75a6a9e5db1e2afb4f48e48dfb733a"),
    ),
    tags=("backbone",),
))
register(WeightSpec(
    name="vgg19-imagenet",
    description="VGG19 convolutional layers trained on ImageNet (Keras applications, no classifier top)",
    source="download from the Keras applications releases",
    files=(
        KnownFile("vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5", md5="253f8cb515780f3b799900260a226db6",
                  url=f"{KERAS_APPS}/vgg19/vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5", size=80134624),
    ),
    tags=("backbone",),
))
