"""The SavedModel format: written into a folder that takes its name only once complete, and run back."""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np

from visiontk.atomic import _umask
from visiontk.errors import BadInputError
from visiontk.runtime import tensorflow
from visiontk.serving.registry import Exportable
from visiontk.serving.signature import serving_function


def write_savedmodel(exportable: Exportable, folder: Path) -> None:
    """The network with its served signature (endpoint `serve`) as a SavedModel in `folder`."""
    import keras

    serve, spec = serving_function(exportable)
    archive = keras.export.ExportArchive()
    archive.track(exportable.model)
    archive.add_endpoint(name="serve", fn=serve, input_signature=[spec])
    archive.write_out(str(folder), verbose=False)


def check_folder_output(output: Path, overwrite: bool) -> None:
    """Refuse to replace an existing folder without --overwrite, or one that is not a SavedModel."""
    if output.exists() and not overwrite:
        raise BadInputError(f"{output}: exists (use `overwrite` to replace it)")
    if output.exists() and not (output / "saved_model.pb").is_file():
        raise BadInputError(f"{output}: exists and is not a SavedModel; not replaced")


@contextlib.contextmanager
def atomic_folder(path: Path, overwrite: bool) -> Iterator[Path]:
    """A temporary folder beside `path`, renamed onto it on success (with the umask's mode), removed
    on failure."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    os.chmod(tmp, 0o777 & ~_umask())   # mkdtemp makes it 0700
    if path.exists() and overwrite:
        shutil.rmtree(path)
    tmp.replace(path)


def savedmodel_runner(folder: Path):
    """Run the SavedModel in `folder`: numpy in, its outputs by name out."""
    tf = tensorflow()
    loaded = tf.saved_model.load(str(folder))
    signature = loaded.signatures["serving_default"]

    def run(inputs: np.ndarray) -> dict[str, np.ndarray]:
        return {name: value.numpy() for name, value in signature(tf.constant(inputs)).items()}

    return run
