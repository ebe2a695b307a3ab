"""The weight sets and exportable networks of the gan task: the shipped generator and the judges of IS / FID.
Loaded through the `visiontk.catalogs` entry point (visiontk.plugins)."""
from __future__ import annotations

from pathlib import Path

from visiontk.backbones.catalog import register_keras_application
from visiontk.serving import Deployable, Exportable, register as register_deployable
from visiontk.weights import register_shipped

register_keras_application(
    "inception-v3-imagenet", "InceptionV3 trained on ImageNet with its classifier (the Inception Score / FID judge)",
    "inception_v3_weights_tf_dim_ordering_tf_kernels.h5", "9a0d58056eeedaa3f26cb7ebd46da564", "gan")
register_shipped("fashion-mnist-judge", "Small CNN trained on Fashion-MNIST (92.25% test accuracy): IS/FID "
                 "judge of Fashion-MNIST GANs",
                 "332484ae5fe00e4a187715eeb21ee92a968d3a7412d05ad8b45d9edacd87a547", 1931552, "gan")
register_shipped("dcgan-fashion-mnist", "DCGAN generator trained on Fashion-MNIST (28x28 grayscale), default of "
                 "`gan generate`",
                 "34d0eb2a4b6f23148437d0f71963834a6a0fb12c176e33f42a81265afd11d1f7", 3072176, "gan")


# ---- networks `visiontk models export` knows ----

def _generator(source: str) -> Exportable:
    from visiontk.gan.generate import latents
    from visiontk.gan.model import load_model

    generator = load_model(source)
    config = generator.config
    return Exportable(generator.name, generator.model, (generator.latent_dim,), input_dtype="float32",
                      output_range=(-1.0, 1.0), sample=lambda path: latents(4, generator.latent_dim, 0),
                      info={"image_size": int(config["image_size"]), "channels": generator.channels})


def _claims_generator(path: Path) -> bool:
    from visiontk.gan.model import is_generator

    return is_generator(path)


register_deployable(Deployable("DCGAN generator", ("dcgan-fashion-mnist",), _claims_generator, _generator))
