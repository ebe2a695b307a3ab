"""The judges that score generated images: class probabilities (for the Inception Score) and features
(for the Fréchet distance).

`fashion-mnist`: a small CNN trained here on Fashion-MNIST's training set and shipped in models/.
`inception`: Keras' InceptionV3 with ImageNet weights, through the registry (users download them).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from visiontk import runtime
from visiontk.errors import BadInputError, VisiontkError, WeightsError
from visiontk.imageio import resize
from visiontk.weights import resolve
from visiontk.weights.registry import digest

JUDGES = ("fashion-mnist", "inception")
FASHION_MNIST_JUDGE = "fashion-mnist-judge"
JUDGE_FILENAME = "fashion-mnist-judge.weights.h5"
INCEPTION_WEIGHTS = "inception-v3-imagenet"


@dataclass
class Judge:
    """A classifier giving (probabilities, features) for uint8 images (N, H, W, 1|3|4)."""

    name: str
    model: Any              # keras.Model with outputs [features, probabilities]
    input_size: int
    grayscale: bool
    preprocess: Any         # float32 batch in [0, 255] -> model input
    weights_sha256: str = ""  # so that cached reference statistics follow the weights

    def judge(self, images: np.ndarray, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
        probabilities, features = [], []
        for start in range(0, len(images), batch_size):
            batch = self.preprocess(self._fit(images[start:start + batch_size]))
            feats, probs = self.model(batch, training=False)
            features.append(np.asarray(feats, dtype=np.float64))
            probabilities.append(np.asarray(probs, dtype=np.float64))
        return np.concatenate(probabilities), np.concatenate(features)

    def _fit(self, images: np.ndarray) -> np.ndarray:
        """uint8 images of any size with 1, 3 or 4 channels (the 4th, a mask, is ignored) -> the
        judge's size and colour, as float32 in [0, 255]."""
        rgb = images[..., :3]
        if self.grayscale and rgb.shape[-1] == 3:
            rgb = np.round(rgb @ np.array([0.299, 0.587, 0.114])).astype(np.uint8)[..., None]
        elif not self.grayscale and rgb.shape[-1] == 1:
            rgb = np.repeat(rgb, 3, axis=-1)
        if rgb.shape[1:3] != (self.input_size, self.input_size):
            size = (self.input_size, self.input_size)
            rgb = np.stack([resize(im, size, Image.BILINEAR) for im in rgb])
        return rgb.astype(np.float32)


def load_judge(name: str = "fashion-mnist") -> Judge:
    if name == "fashion-mnist":
        return _fashion_mnist_judge()
    if name == "inception":
        return _inception_judge()
    raise VisiontkError(f"unknown judge {name!r}: use {' or '.join(JUDGES)}")


def _fashion_mnist_judge() -> Judge:
    path = resolve(FASHION_MNIST_JUDGE)
    classifier = _load_classifier(path)
    return Judge("fashion-mnist", _with_features(classifier, "features"), 28, True, lambda x: x / 255.0,
                 digest(path).sha256)


def _load_classifier(path: Path):
    from visiontk.backbones.classifier import small_classifier

    model = small_classifier()
    try:
        model.load_weights(str(path))
    except (OSError, ValueError, KeyError) as exc:
        raise WeightsError(f"{path}: not the Fashion-MNIST judge's weights ({exc})") from None
    return model


def _inception_judge() -> Judge:
    path = resolve(INCEPTION_WEIGHTS)  # WeightsError (exit 4) with the remedy if not downloaded
    runtime.tensorflow()
    import keras

    model = keras.applications.InceptionV3(weights=str(path))
    preprocess = keras.applications.inception_v3.preprocess_input
    return Judge("inception", _with_features(model, "avg_pool"), 299, False, preprocess, digest(path).sha256)


def _with_features(model, features_layer: str):
    import keras

    return keras.Model(model.input, [model.get_layer(features_layer).output, model.output])


# ---- training the Fashion-MNIST judge -----------------------------------------------------------------

def train_judge(data: str | Path, test_data: str | Path | None, out: str | Path, *, epochs: int = 10,
                batch_size: int = 128, overwrite: bool = False) -> dict:
    """Train the Fashion-MNIST judge on IDX images + labels; return its test accuracy and timing."""
    from visiontk.backbones.classifier import small_classifier
    from visiontk.gan.data import labels_for, load_images
    from visiontk.atomic import atomic_output, check_output

    out = check_output(out, overwrite)
    tf = runtime.tensorflow()
    import keras

    train_x, train_y = load_images(data) / np.float32(255), labels_for(data)
    if len(train_x) != len(train_y):
        raise BadInputError(f"{data}: {len(train_x)} images but {len(train_y)} labels")
    model = small_classifier(train_x.shape[1:], int(train_y.max()) + 1)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    flipped = tf.data.Dataset.from_tensor_slices((train_x, train_y)).shuffle(len(train_x), seed=0)
    # Left-right flips keep every Fashion-MNIST class what it is.
    flipped = flipped.map(lambda x, y: (tf.image.random_flip_left_right(x, seed=0), y)).batch(batch_size)
    started = time.time()
    model.fit(flipped, epochs=epochs, verbose=1 if runtime.progress_enabled() else 2)
    seconds = time.time() - started
    result = {"epochs": epochs, "train_seconds": round(seconds, 1), "train_images": len(train_x)}
    if test_data is not None:
        test_x, test_y = load_images(test_data) / np.float32(255), labels_for(test_data)
        _, accuracy = model.evaluate(test_x, test_y, batch_size=512, verbose=0)
        result["test_accuracy"] = round(float(accuracy), 4)
    # A fresh, uncompiled copy: Keras would otherwise store the optimizer's state in the file too.
    shipped = small_classifier(train_x.shape[1:], int(train_y.max()) + 1)
    shipped.set_weights(model.get_weights())
    with atomic_output(out, overwrite) as tmp:
        tmp_weights = Path(str(tmp) + ".weights.h5")
        shipped.save_weights(str(tmp_weights))
        tmp_weights.replace(tmp)
    result["weights"] = str(out)
    return result
