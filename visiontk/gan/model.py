"""Trained generators: a shipped one by name, a `gan train` run folder, or an exported weights file
(NAME.weights.h5 with the NAME.json that rebuilds it), as a `Generator`."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from visiontk.errors import BadInputError, WeightsError
from visiontk.gan.pictures import to_uint8
from visiontk.gan.training import run_generator

log = logging.getLogger("visiontk")

DEFAULT_MODEL = "dcgan-fashion-mnist"
# The generators we ship: registry names, each rebuilt from the NAME.json shipped beside its weights.
SHIPPED = ("dcgan-fashion-mnist",)
# The generator a run folder of visiontk before the shared run layout holds (with generator.json).
GENERATOR_WEIGHTS = "generator.weights.h5"


@dataclass
class Generator:
    name: str
    model: Any
    config: dict

    @property
    def latent_dim(self) -> int:
        return int(self.config["latent_dim"])

    @property
    def channels(self) -> int:
        return int(self.config["channels"])

    def images(self, latents: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """uint8 images (N, H, W, C) for latent vectors (N, latent_dim)."""
        out = [to_uint8(self.model(latents[i:i + batch_size].astype(np.float32), training=False))
               for i in range(0, len(latents), batch_size)]
        return np.concatenate(out) if out else np.zeros((0,), np.uint8)


def load_model(model: str | Path | None = None) -> Generator:
    """A generator by shipped name (default: the Fashion-MNIST DCGAN), run folder or .weights.h5 file."""
    model = DEFAULT_MODEL if model is None else model
    weights, config = locate(model)
    if weights.is_dir():    # a `gan train` run: its last checkpoint
        return Generator(str(model), *run_generator(weights)[:2])
    from visiontk.backbones.dcgan import dcgan_generator

    network = dcgan_generator(int(config["image_size"]), int(config["channels"]), int(config["latent_dim"]),
                              int(config.get("width", 64)))
    try:
        network.load_weights(str(weights))
    except (OSError, ValueError, KeyError) as exc:
        config_name = generator_config_path(weights).name
        raise WeightsError(f"{weights}: cannot load generator weights ({exc}); is {config_name} the "
                           "configuration it was trained with?") from None
    return Generator(str(model), network, config)


def locate(model: str | Path) -> tuple[Path, dict]:
    """(the weights file, or the run folder, of `model`; the configuration that rebuilds it)."""
    if str(model) in SHIPPED:
        from visiontk.weights import resolve, shipped_dir

        return resolve(str(model)), _read_config(shipped_dir() / f"{model}.json")
    path = Path(model)
    if path.is_dir() and not (path / GENERATOR_WEIGHTS).is_file():
        from visiontk.gan.training import run_config

        return path, run_config(path).generator_config()
    if path.is_dir():
        path = path / GENERATOR_WEIGHTS
    elif not path.is_file():
        raise BadInputError(f"{model}: no such model (give a run folder, a .weights.h5 file, or one of "
                            f"{', '.join(SHIPPED)})")
    elif not path.name.endswith(".weights.h5"):
        raise BadInputError(f"{model}: not a generator weights file (NAME.weights.h5, with NAME.json beside "
                            "it, as `gan export` writes)")
    return path, _read_config(generator_config_path(path))


def _read_config(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise BadInputError(f"{path}: generator configuration missing or unreadable ({exc})") from None


def is_generator(path: Path) -> bool:
    """Whether `path` is a generator: a `gan train` run folder (or one of an older visiontk), or a
    NAME.weights.h5 file with NAME.json beside it."""
    from visiontk import training
    from visiontk.gan.training import run_config

    if path.is_dir() and not (path / GENERATOR_WEIGHTS).exists():
        try:
            run_config(path)
        except BadInputError:    # no run, or another task's
            return False
        return (path / training.CHECKPOINTS).is_dir()
    weights = path / GENERATOR_WEIGHTS if path.is_dir() else path
    return (weights.name.endswith(".weights.h5") and weights.is_file()
            and generator_config_path(weights).is_file())


def generator_config_path(weights: Path) -> Path:
    """The configuration that rebuilds a generator: NAME.json beside NAME.weights.h5."""
    return weights.with_name(weights.name.replace(".weights.h5", ".json"))
