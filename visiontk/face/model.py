"""The embedding network: dlib's pretrained ResNet by default, or a model made by `face train`."""
from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from visiontk.compat import renamed_constants
from visiontk.errors import BadInputError, WeightsError
from visiontk.face.align import CHIP_SIZE

DEFAULT_MODEL = "dlib-face-resnet"
DEFAULT_MAX_DISTANCE = 0.6   # dlib's: same person when the Euclidean distance is at most this
BATCH_SIZE = 32


# DEFAULT_THRESHOLD, the old name of DEFAULT_MAX_DISTANCE (face.detect had a confidence of that name).
__getattr__ = renamed_constants(__name__, {"DEFAULT_THRESHOLD": ("DEFAULT_MAX_DISTANCE", DEFAULT_MAX_DISTANCE)})


@dataclass
class FaceModel:
    """A network from aligned RGB chips (CHIP_SIZE square, 0..255) to embeddings, and its same-person
    distance: two faces are one person when their embeddings are at most `max_distance` apart."""

    name: str
    network: object            # a keras.Model
    max_distance: float
    _graph: object = field(default=None, init=False, repr=False, compare=False)   # the traced forward pass

    @property
    def threshold(self) -> float:
        """The old name of `max_distance`."""
        warnings.warn("FaceModel.threshold is deprecated, use max_distance", DeprecationWarning, stacklevel=2)
        return self.max_distance

    @property
    def embedding_size(self) -> int:
        """How many values each embedding has (128 for dlib's network)."""
        return int(self.network.output_shape[-1])

    def embed_chips(self, chips: np.ndarray | list) -> np.ndarray:
        """(N, CHIP_SIZE, CHIP_SIZE, 3) chips -> (N, D) float32 embeddings, in batches."""
        chips = np.asarray(chips, dtype=np.float32).reshape(-1, CHIP_SIZE, CHIP_SIZE, 3)
        if len(chips) == 0:
            return np.zeros((0, self.network.output_shape[-1]), np.float32)
        outputs = [np.asarray(self._forward(chips[i:i + BATCH_SIZE]))
                   for i in range(0, len(chips), BATCH_SIZE)]
        return np.concatenate(outputs).astype(np.float32)

    def _forward(self, batch: np.ndarray):
        # A graph traced once for any batch size: predict()'s per-call set-up, and eager calls'
        # per-layer dispatch, dominate the few faces of a photo.
        if self._graph is None:
            import tensorflow as tf
            self._graph = tf.function(lambda x: self.network(x, training=False),
                                      input_signature=[tf.TensorSpec([None, CHIP_SIZE, CHIP_SIZE, 3], tf.float32)])
        return self._graph(batch)


_loaded: dict[str, FaceModel] = {}


def load_model(name_or_path: str | Path | FaceModel | None = None) -> FaceModel:
    """The face task's model: the pretrained one (None or its name, DEFAULT_MODEL), or a `.keras` model
    written by `visiontk face train` (a FaceModel given is returned as it is)."""
    if isinstance(name_or_path, FaceModel):
        return name_or_path
    key = "" if not name_or_path or str(name_or_path) == DEFAULT_MODEL else str(name_or_path)
    if key not in _loaded:
        _loaded[key] = _load_trained(Path(key)) if key else _load_default()
    return _loaded[key]


def _load_default() -> FaceModel:
    from visiontk.runtime import tensorflow
    tensorflow()
    from visiontk.backbones.dlib_resnet import DlibFaceResNet
    from visiontk.face.dlib_convert import converted_weights

    weights_file = converted_weights()
    network = DlibFaceResNet()
    try:
        network.load_weights(str(weights_file))
    except (OSError, ValueError) as exc:
        raise WeightsError(f"{weights_file}: converted weights unreadable ({exc}); delete it to convert "
                           "again") from None
    return FaceModel(DEFAULT_MODEL, network, DEFAULT_MAX_DISTANCE)


def metadata_path(model_path: Path) -> Path:
    """Where a trained model's same-person distance and training record live: beside it, as NAME.json
    (key `max_distance`; files written before it was renamed say `threshold`)."""
    return model_path.with_suffix(".json")


def _load_trained(path: Path) -> FaceModel:
    from visiontk.runtime import tensorflow
    tensorflow()
    import keras

    from visiontk.backbones import dlib_resnet

    del dlib_resnet  # imported for its side effect: registering the custom layers with Keras

    if not path.is_file():
        raise BadInputError(f"{path}: no such model file (make one with `visiontk face train`)")
    if path.suffix != ".keras":
        raise BadInputError(f"{path}: expected a .keras model written by `visiontk face train`")
    try:
        network = keras.saving.load_model(str(path), compile=False)
    except Exception as exc:  # Keras raises many kinds for a bad archive
        raise BadInputError(f"{path}: not a readable Keras model ({type(exc).__name__}: {exc})") from None
    if tuple(network.input_shape[1:]) != (CHIP_SIZE, CHIP_SIZE, 3):
        raise BadInputError(f"{path}: model input is {network.input_shape[1:]}, "
                            f"expected {CHIP_SIZE}x{CHIP_SIZE}x3 face chips")
    max_distance = DEFAULT_MAX_DISTANCE
    meta = metadata_path(path)
    if meta.is_file():
        try:
            record = json.loads(meta.read_text())
            max_distance = float(record["max_distance"] if "max_distance" in record else record["threshold"])
        except (ValueError, KeyError, TypeError):
            raise BadInputError(f"{meta}: unreadable model metadata; delete it or retrain") from None
    return FaceModel(path.stem, network, max_distance)
