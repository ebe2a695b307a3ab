"""The named weight sets visiontk knows. Each task adds its entries in its own section."""
from visiontk.weights.registry import KnownFile, WeightSpec, register

KERAS_APPS = "https://storage.googleapis.com/tensorflow/keras-applications"

# ---- shared backbones -------------------------------------------------------------------------------
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

# ---- style ------------------------------------------------------------------------------------------
register(WeightSpec(
    name="style-starry-night",
    description="Feed-forward style network painting like van Gogh's The Starry Night (`stylize --model "
                "starry-night`), trained here on BSDS500 (see its model card)",
    source="shipped in models/",
    files=(KnownFile("style-starry-night.weights.h5",
                     sha256="269b400309023722110fef64dbe9fe4df6702d129500f470702d5266097247ca", size=6880336),),
    card="style-starry-night.md",
    tags=("style",),
))

# ---- face -------------------------------------------------------------------------------------------
register(WeightSpec(
    name="dlib-face-resnet",
    description="dlib's face-recognition ResNet (CC0), 128-D embeddings, 99.38% on LFW",
    source="pip package face-recognition-models",
    pip_package="face_recognition_models",
    pip_subpath="models",
    files=(KnownFile("dlib_face_recognition_resnet_model_v1.dat",
                     sha256="55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
                     size=22466066),),
    tags=("face",),
))

# ---- gan --------------------------------------------------------------------------------------------
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

# ---- sr ---------------------------------------------------------------------------------------------
for _scale, _sha256, _size in (
    (2, "adfc732d3e488d6c9f11541550adc53f7552b3b83cbb0d7b9bd6a824c52a320d", 5627152),
    (3, "23d19092a13b94c84c90677e06486ac5685a59ac34665a157b135f358deebc15", 6366736),
    (4, "9a64fce9ddf4a90f2592c913f0d403684aa06bd9e469af6fd731235190d2f6be", 6223560),
):
    register(WeightSpec(
        name=f"edsr-x{_scale}",
        description=f"EDSR-baseline x{_scale} (16x64) trained here on BSDS500 (see its model card)",
        source="shipped in models/",
        files=(KnownFile(f"edsr-x{_scale}.weights.h5", sha256=_sha256, size=_size),),
        card=f"edsr-x{_scale}.md",
        tags=("sr",),
    ))
register(WeightSpec(
    name="edsr-x4-real",
    description="EDSR-baseline x4 (16x64) fine-tuned here on blurred, noisy, JPEG-compressed inputs: for real "
                "photos (see its model card)",
    source="shipped in models/",
    files=(KnownFile("edsr-x4-real.weights.h5",
                     sha256="d37d6ce2c3295efbd3869ab212945418cb7cf895b9d9796547e64fd7ed7cc056", size=6223560),),
    card="edsr-x4-real.md",
    tags=("sr",),
))
register(WeightSpec(
    name="edsr-x4-krasserm",
    description="EDSR-baseline x4 (16x64) trained on DIV2K by krasserm/super-resolution, imported from his .h5",
    source="download weights-edsr-16-x4.tar.gz from github.com/krasserm/super-resolution, then "
           "`visiontk models import edsr-x4-krasserm weights/edsr-16-x4/weights.h5`",
    files=(KnownFile("weights.h5"),),  # his file's hash isn't known here: the importer checks the structure
    importer="visiontk.sr.krasserm:import_weights",
    tags=("sr",),
))
