"""The weight sets and exportable networks of the face task. Loaded through the `visiontk.catalogs` entry
point (visiontk.plugins)."""
from __future__ import annotations

from visiontk.serving import Deployable, Exportable, check_image, register as register_deployable
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


# ---- networks `visiontk models export` knows ----

def _face_embedder(source: str) -> Exportable:
    from visiontk.face.align import CHIP_SIZE
    from visiontk.face.model import load_model

    model = load_model(source)   # the pretrained network's name, or a .keras file
    # "threshold": the old name of max_distance, kept for one release (README, models export).
    return Exportable(model.name, model.network, (CHIP_SIZE, CHIP_SIZE, 3), output="vector",
                      sample=lambda path: check_image(path, side=CHIP_SIZE),
                      info={"max_distance": model.max_distance, "threshold": model.max_distance})


register_deployable(Deployable("face embedder (dlib ResNet or a `face train` model)", ("dlib-face-resnet",),
                               lambda path: path.suffix == ".keras", _face_embedder))


MTCNN_STAGES = {  # name: (input side, output names in the order the network returns them)
    "mtcnn-pnet": (None, ("box_regression", "face_probability")),
    "mtcnn-rnet": (24, ("box_regression", "face_probability")),
    "mtcnn-onet": (48, ("box_regression", "landmarks", "face_probability")),
}


def _mtcnn_stage(source: str) -> Exportable:
    from visiontk.face.detect import keras_networks

    side, outputs = MTCNN_STAGES[source]
    network = keras_networks()[list(MTCNN_STAGES).index(source)]
    # The networks read (pixel - 127.5) / 128; the cascade around them (pyramid, crops, box
    # regression, non-maximum suppression) stays the caller's.
    return Exportable(source, network, (side, side, 3), output="tensors", output_names=outputs,
                      input_scale=1 / 128, input_offset=-127.5 / 128,
                      sample=lambda path: check_image(path, side=side))


register_deployable(Deployable("MTCNN detector stage (P-Net, R-Net, O-Net)", tuple(MTCNN_STAGES),
                               lambda path: False, _mtcnn_stage))
