"""The weight sets and exportable networks of the style task: the shipped feed-forward networks. Loaded
through the `visiontk.catalogs` entry point (visiontk.plugins)."""
from __future__ import annotations

from pathlib import Path

from visiontk.serving import (Deployable, Exportable, check_image, register as register_deployable,
                              weights_file_claims)
from visiontk.style.model import STYLE_MODELS, network_shape
from visiontk.weights import register_shipped

register_shipped("style-starry-night", "Feed-forward style network painting like van Gogh's The Starry Night "
                 "(`stylize --model starry-night`), trained here on BSDS500 (see its model card)",
                 "f8afe1eba19921c84d3cec4a270da6b2c0de5f771ac33b88bfe38eddaa855da3", 6880336, "style")
register_shipped("style-the-scream", "Feed-forward style network painting like Munch's The Scream "
                 "(`stylize --model the-scream`), trained here on BSDS500 (see its model card)",
                 "cfa5c736e25ccfbf875a7c03af059421f98b31b7f8f45f45c0e560445287f15e", 6880336, "style")


# ---- networks `visiontk models export` knows ----

def _style_network(source: str) -> Exportable:
    from visiontk.style.model import load_model

    name = source if source in STYLE_MODELS else Path(source).name.removesuffix(".weights.h5")
    # Fully convolutional; sides must be multiples of 4 (FastStylizer pads photos by mirroring).
    return Exportable(name, load_model(source), (None, None, 3), sample=lambda image: check_image(image),
                      info={"input_multiple": 4})


register_deployable(Deployable("feed-forward style network", STYLE_MODELS, weights_file_claims(network_shape),
                               _style_network))
