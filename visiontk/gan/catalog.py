"""The weight sets of the gan task: the shipped generator and the judges of IS / FID. Loaded through the
`visiontk.catalogs` entry point (visiontk.plugins)."""
from visiontk.weights import KnownFile, WeightSpec, register
from visiontk.backbones.catalog import KERAS_APPS

register(WeightSpec(
    name="inception-v3-imagenet",
    description="InceptionV3 trained on ImageNet with its classifier (the Inception Score / FID judge)",
    source="download from the Keras applications releases",
    files=(
        KnownFile("inception_v3_weights_tf_dim_ordering_tf_kernels.h5", md5="9a0d58056eeedaa3f26cb7ebd46da564",
                  url=f"{KERAS_APPS}/inception_v3/inception_v3_weights_tf_dim_ordering_tf_kernels.h5"),
    ),
    tags=("gan",),
))
register(WeightSpec(
    name="fashion-mnist-judge",
    description="Small CNN trained on Fashion-MNIST (92.25% test accuracy): IS/FID judge of Fashion-MNIST GANs",
    source="shipped in models/",
    files=(KnownFile("fashion-mnist-judge.weights.h5",
                     sha256="332484ae5fe00e4a187715eeb21ee92a968d3a7412d05ad8b45d9edacd87a547", size=1931552),),
    card="fashion-mnist-judge.md",
    tags=("gan",),
))
register(WeightSpec(
    name="dcgan-fashion-mnist",
    description="DCGAN generator trained on Fashion-MNIST (28x28 grayscale), default of `gan generate`",
    source="shipped in models/",
    files=(KnownFile("dcgan-fashion-mnist.weights.h5",
                     sha256="34d0eb2a4b6f23148437d0f71963834a6a0fb12c176e33f42a81265afd11d1f7", size=3072176),),
    card="dcgan-fashion-mnist.md",
    tags=("gan",),
))
