"""Neural style transfer (Gatys, Ecker & Bethge 2016) with L-BFGS, coarse-to-fine scales, style mixing
and colour preservation. `stylize(content, style, ...)` is the one-call API; `Stylizer` prepares the
styles once for a batch of photos."""
from visiontk.style.transfer import ScaleReport, StyleResult, Stylizer, stylize

__all__ = ["ScaleReport", "StyleResult", "Stylizer", "stylize"]
