"""The weight sets of the face task. Loaded through the `visiontk.catalogs` entry point (visiontk.plugins)."""
from visiontk.weights import KnownFile, WeightSpec, register

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
