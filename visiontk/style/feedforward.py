"""Old home of the trained-style API, kept for one release (see visiontk.compat): use visiontk.style
(or visiontk.style.training / .export / .model)."""
from visiontk.style.export import export  # noqa: F401
from visiontk.style.model import DEFAULT_SIZE, STYLE_MODELS, FastStylizer, load_model, network_shape  # noqa: F401
from visiontk.style.training import CHANGEABLE, TrainConfig, config_from, train  # noqa: F401
