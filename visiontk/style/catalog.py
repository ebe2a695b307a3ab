"""The weight sets of the style task: the shipped feed-forward networks. Loaded through the
`visiontk.catalogs` entry point (visiontk.plugins)."""
from visiontk.weights import KnownFile, WeightSpec, register

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
