"""The Python API keeps its shape: every task package exports real functions and classes, which no
submodule import can replace (a lazy wrapper named like its submodule once turned `face.train` into a
module after the CLI imported `visiontk.face.train`)."""
from __future__ import annotations

import importlib
import pkgutil
import types
from pathlib import Path

import pytest

import visiontk

TASKS = ("visiontk.style", "visiontk.face", "visiontk.gan", "visiontk.sr")
# The verbs shared across tasks, where a task has them (issue 14): train, evaluate, export, load_model.
SHARED_VERBS = {"visiontk.style": ("train", "export", "load_model", "stylize"),
                "visiontk.face": ("train", "evaluate", "export", "load_model", "verify", "detect_faces"),
                "visiontk.gan": ("train", "export", "load_model", "generate", "score"),
                "visiontk.sr": ("train", "evaluate", "export", "load_model", "upscale")}


def test_every_submodule_imports_and_no_export_is_shadowed_by_a_module():
    for info in pkgutil.walk_packages(visiontk.__path__, "visiontk."):
        if info.name.startswith("visiontk.cli") or info.name == "visiontk.__main__":
            continue
        importlib.import_module(info.name)
    for name in TASKS:
        package = importlib.import_module(name)
        for export in package.__all__:
            value = getattr(package, export)
            assert not isinstance(value, types.ModuleType), f"{name}.{export} is a module, not the API"


@pytest.mark.parametrize("package_name", TASKS)
def test_tasks_export_the_shared_verbs(package_name):
    package = importlib.import_module(package_name)
    for verb in SHARED_VERBS[package_name]:
        assert verb in package.__all__, f"{package_name} does not export {verb}"
        assert callable(getattr(package, verb))


def test_load_model_is_the_tasks_model_by_name_or_path():
    """`load_model(name_or_path)` means the same in every task: the task's model from a shipped name or
    a file (style and sr: the Keras network; face: a FaceModel, the network with its same-person distance; gan: a
    Generator, the network with its config)."""
    import keras
    import numpy as np

    from visiontk import face, gan, sr, style

    root = Path(__file__).resolve().parents[1]
    by_name, by_path = sr.load_model("edsr-x2"), sr.load_model(root / "models" / "edsr-x3.weights.h5")
    assert isinstance(by_name, keras.Model) and isinstance(by_path, keras.Model)
    assert by_path(np.zeros((1, 8, 8, 3), np.float32)).shape == (1, 24, 24, 3)   # the scale its weights have
    assert isinstance(style.load_model("starry-night"), keras.Model)
    assert gan.load_model("dcgan-fashion-mnist").model.output_shape == (None, 28, 28, 1)
    pretrained = face.load_model("dlib-face-resnet")
    assert pretrained is face.load_model() and isinstance(pretrained.network, keras.Model)
    assert pretrained.max_distance == face.DEFAULT_MAX_DISTANCE
