"""The weight sets and exportable networks of the super-resolution task: the shipped EDSR models and
krasserm's, imported. Loaded through the `visiontk.catalogs` entry point (visiontk.plugins)."""
from __future__ import annotations

from visiontk.serving import (Deployable, Exportable, check_image, register as register_deployable,
                              weights_file_claims)
from visiontk.sr.networks import read_network
from visiontk.sr.krasserm import import_weights
from visiontk.weights import KnownFile, WeightSpec, register, register_shipped

# The weights shipped in models/, each with its model card models/NAME.md: (name, description, sha256, size).
_SHIPPED_WEIGHTS = (
    ("edsr-x2", "EDSR-baseline x2 (16x64) trained here on BSDS500 (see its model card)",
     "adfc732d3e488d6c9f11541550adc53f7552b3b83cbb0d7b9bd6a824c52a320d", 5627152),
    ("edsr-x3", "EDSR-baseline x3 (16x64) trained here on BSDS500 (see its model card)",
     "23d19092a13b94c84c90677e06486ac5685a59ac34665a157b135f358deebc15", 6366736),
    ("edsr-x4", "EDSR-baseline x4 (16x64) trained here on BSDS500 (see its model card)",
     "9a64fce9ddf4a90f2592c913f0d403684aa06bd9e469af6fd731235190d2f6be", 6223560),
    ("edsr-x4-real", "EDSR x4 (32x64) fine-tuned here on noisy, JPEG-compressed, slightly blurred inputs: "
     "for real photos (see its model card)",
     "8dfe6d4bfb5ade07475f161bbd1c2c0a6bea1d7a6c9e7667281da5e11a31ea35", 11071536),
    ("wdsr-x2", "WDSR-B x2 (32 wide-activation blocks x 32) trained here on BSDS500 from wdsr-x4's body: "
     "beats edsr-x2 with 0.44x its weights (see its model card)",
     "ed13775c3603fef399296eee2362a83f29a9fecd4a26d8ecb67d284bcb5b6111", 2798832),
    ("wdsr-x4", "WDSR-B x4 (32 wide-activation blocks x 32) trained here on BSDS500: edsr-x4's PSNR with "
     "0.41x its weights, several times faster (see its model card)",
     "93ca164ee5b64e211383ac9c294224521f3b229783d562e3a2bc5510f112f31b", 2851104),
    ("srgan-x4", "wdsr-x4 fine-tuned here SRGAN-style (VGG16 feature content loss, adversarial loss): "
     "sharper texture, 15% lower perceptual distance than edsr-x4, lower PSNR (see its model card)",
     "27cf54b16e741414e2273de61898bbc23b75cba9a3623725622d4d87cf96ebc7", 2851104),
)
# Their names: what `serve` loads and `models export` offers.
SHIPPED = tuple(name for name, *_ in _SHIPPED_WEIGHTS)
for _name, _description, _sha256, _size in _SHIPPED_WEIGHTS:
    register_shipped(_name, _description, _sha256, _size, "sr")
register(WeightSpec(
    name="edsr-x4-krasserm",
    description="EDSR-baseline x4 (16x64) trained on DIV2K by krasserm/super-resolution, imported from his .h5",
    source="download weights-edsr-16-x4.tar.gz from github.com/krasserm/super-resolution, then "
           "`visiontk models import edsr-x4-krasserm weights/edsr-16-x4/weights.h5`",
    files=(KnownFile("weights.h5"),),  # his file's hash isn't known here: the importer checks the structure
    importer=import_weights,
    tags=("sr",),
))


# ---- networks `visiontk models export` knows ----

def _sr_network(source: str) -> Exportable:
    from visiontk.sr.networks import load_network, read_network
    from visiontk.sr.upscale import weights_path

    path = weights_path(source, 4)
    network = read_network(path)
    info = {"arch": network.arch, "scale": network.scale, "blocks": network.blocks, "features": network.features}
    if network.expansion:
        info["expansion"] = network.expansion
    return Exportable(source if "/" not in source and not source.endswith(".h5") else path.stem,
                      load_network(path, network.scale), (None, None, 3), sample=lambda image: check_image(image),
                      info=info)


register_deployable(Deployable("super-resolution (EDSR, WDSR, SRGAN-style)", SHIPPED,
                               weights_file_claims(read_network), _sr_network))
