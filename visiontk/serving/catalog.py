"""The networks `visiontk models export` knows. Each task adds its entries in its own section: the names
it answers to, the files it claims, and how to build the network with its weights."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from visiontk.serving import Deployable, Exportable, register
from visiontk.style.feedforward import STYLE_MODELS

CHECK_SIDE = 96   # the check crop of image-to-image networks: small, so exporting stays quick


def check_image(path: Path | None, side: int | None = None) -> np.ndarray:
    """A batch of one uint8 RGB image: the centre crop (or resize, `side`) of `path`, or without a path
    a synthetic test card (gradients, edges and noise, so every layer sees varied input)."""
    from PIL import Image

    from visiontk.imageio import read_image

    if path is None:
        y, x = np.mgrid[0:CHECK_SIDE, 0:CHECK_SIDE] / CHECK_SIDE
        noise = np.random.default_rng(0).uniform(0, 60, (CHECK_SIDE, CHECK_SIDE, 3))
        card = np.stack([x * 200, y * 200, ((x > 0.5) ^ (y > 0.5)) * 150], -1) + noise
        rgb = np.clip(card, 0, 255).astype(np.uint8)
    else:
        rgb = read_image(path)
    if side is not None:
        rgb = np.asarray(Image.fromarray(rgb).resize((side, side), Image.BICUBIC))
    else:
        top, left = max(0, (rgb.shape[0] - CHECK_SIDE) // 2), max(0, (rgb.shape[1] - CHECK_SIDE) // 2)
        rgb = rgb[top:top + CHECK_SIDE, left:left + CHECK_SIDE]
    return rgb[None]


# ---- style ----------------------------------------------------------------------------------------------

def _style_network(source: str) -> Exportable:
    from visiontk.style.feedforward import STYLE_MODELS, load_model

    name = source if source in STYLE_MODELS else Path(source).name.removesuffix(".weights.h5")
    # Fully convolutional; sides must be multiples of 4 (FastStylizer pads photos by mirroring).
    return Exportable(name, load_model(source), (None, None, 3), sample=lambda image: check_image(image),
                      info={"input_multiple": 4})


def _claims_style(path: Path) -> bool:
    from visiontk.errors import WeightsError
    from visiontk.style.feedforward import network_shape

    if not (path.is_file() and path.name.endswith(".weights.h5")):
        return False
    try:
        network_shape(path)
    except WeightsError:
        return False
    return True


register(Deployable("feed-forward style network", STYLE_MODELS, _claims_style,
                    _style_network))

# ---- face -----------------------------------------------------------------------------------------------

def _face_embedder(source: str) -> Exportable:
    from visiontk.face.align import CHIP_SIZE
    from visiontk.face.model import load_model

    model = load_model(source)   # the pretrained network's name, or a .keras file
    # "threshold": the old name of max_distance, kept for one release (README, models export).
    return Exportable(model.name, model.network, (CHIP_SIZE, CHIP_SIZE, 3), output="vector",
                      sample=lambda path: check_image(path, side=CHIP_SIZE),
                      info={"max_distance": model.max_distance, "threshold": model.max_distance})


register(Deployable("face embedder (dlib ResNet or a `face train` model)", ("dlib-face-resnet",),
                    lambda path: path.suffix == ".keras", _face_embedder))


MTCNN_STAGES = {  # name: (input side, output names in the order the network returns them)
    "mtcnn-pnet": (None, ("box_regression", "face_probability")),
    "mtcnn-rnet": (24, ("box_regression", "face_probability")),
    "mtcnn-onet": (48, ("box_regression", "landmarks", "face_probability")),
}


def _mtcnn_stage(source: str) -> Exportable:
    from visiontk.face.detect import _networks

    side, outputs = MTCNN_STAGES[source]
    network = _networks()[list(MTCNN_STAGES).index(source)]
    # The networks read (pixel - 127.5) / 128; the cascade around them (pyramid, crops, box
    # regression, non-maximum suppression) stays the caller's.
    return Exportable(source, network, (side, side, 3), output="tensors", output_names=outputs,
                      input_scale=1 / 128, input_offset=-127.5 / 128,
                      sample=lambda path: check_image(path, side=side))


register(Deployable("MTCNN detector stage (P-Net, R-Net, O-Net)", tuple(MTCNN_STAGES),
                    lambda path: False, _mtcnn_stage))

# ---- gan ------------------------------------------------------------------------------------------------


def _generator(source: str) -> Exportable:
    from visiontk.gan.generate import latents, load_generator

    generator = load_generator(source)
    config = generator.config
    return Exportable(generator.name, generator.model, (generator.latent_dim,), input_dtype="float32",
                      output_range=(-1.0, 1.0), sample=lambda path: latents(4, generator.latent_dim, 0),
                      info={"image_size": int(config["image_size"]), "channels": generator.channels})


def _claims_generator(path: Path) -> bool:
    from visiontk.gan.generate import is_generator

    return is_generator(path)


register(Deployable("DCGAN generator", ("dcgan-fashion-mnist",), _claims_generator, _generator))

# ---- sr -------------------------------------------------------------------------------------------------


def _edsr(source: str) -> Exportable:
    from visiontk.sr.upscale import weights_path
    from visiontk.sr.edsr_files import load_edsr, structure

    path = weights_path(source, 4)
    scale, blocks, features = structure(path)
    return Exportable(source if source.startswith("edsr-") else path.stem, load_edsr(path, scale),
                      (None, None, 3), sample=lambda image: check_image(image),
                      info={"scale": scale, "blocks": blocks, "features": features})


def _claims_edsr(path: Path) -> bool:
    from visiontk.errors import WeightsError
    from visiontk.sr.edsr_files import structure

    if not (path.is_file() and path.name.endswith(".weights.h5")):
        return False
    try:
        structure(path)
    except WeightsError:
        return False
    return True


register(Deployable("EDSR super-resolution", ("edsr-x2", "edsr-x3", "edsr-x4"), _claims_edsr, _edsr))
