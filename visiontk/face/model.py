"""The embedding network: dlib's pretrained ResNet by default, or a model made by `face train`."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from visiontk.errors import BadInputError, WeightsError

DEFAULT_THRESHOLD = 0.6   # dlib's: same person when the Euclidean distance is at most this
BATCH_SIZE = 32


@dataclass
class FaceModel:
    """A network from 150x150 RGB chips (0..255) to embeddings, and its same-person distance threshold."""

    name: str
    network: object            # a keras.Model
    threshold: float

    def embed_chips(self, chips: np.ndarray | list) -> np.ndarray:
        """(N, 150, 150, 3) chips -> (N, D) float32 embeddings, in batches."""
        chips = np.asarray(chips, dtype=np.float32).reshape(-1, 150, 150, 3)
        if len(chips) == 0:
            return np.zeros((0, self.network.output_shape[-1]), np.float32)
        outputs = [np.asarray(self._forward(chips[i:i + BATCH_SIZE]))
                   for i in range(0, len(chips), BATCH_SIZE)]
        return np.concatenate(outputs).astype(np.float32)

    def _forward(self, batch: np.ndarray):
        # Calling the model directly avoids predict()'s per-call set-up, which dominates small batches.
        return self.network(batch, training=False)


_loaded: dict[str, FaceModel] = {}


def load_model(path: str | Path | None = None) -> FaceModel:
    """The default pretrained model, or a `.keras` model written by `visiontk face train`."""
    key = str(path) if path else ""
    if key not in _loaded:
        _loaded[key] = _load_trained(Path(path)) if path else _load_default()
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
    return FaceModel("dlib-face-resnet", network, DEFAULT_THRESHOLD)


def metadata_path(model_path: Path) -> Path:
    """Where a trained model's threshold and training record live: beside it, as NAME.json."""
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
    if tuple(network.input_shape[1:]) != (150, 150, 3):
        raise BadInputError(f"{path}: model input is {network.input_shape[1:]}, "
                            "expected 150x150x3 face chips")
    threshold = DEFAULT_THRESHOLD
    meta = metadata_path(path)
    if meta.is_file():
        try:
            threshold = float(json.loads(meta.read_text())["threshold"])
        except (ValueError, KeyError, TypeError):
            raise BadInputError(f"{meta}: unreadable model metadata; delete it or retrain") from None
    return FaceModel(path.stem, network, threshold)
