"""The networks that can be exported: what a task registers (a Deployable) and what it builds (an Exportable)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from visiontk.errors import BadInputError
from visiontk.runtime import tensorflow


@dataclass
class Exportable:
    """A Keras network on float inputs and how its served signature wraps it."""

    name: str
    model: Any                          # keras.Model
    input_shape: tuple                  # without the batch axis; None = any size
    input_dtype: str = "uint8"          # uint8 pixels 0..255, or float32 (latent vectors)
    # image: uint8 pixels; vector: float32 (e.g. an embedding); tensors: several float32 outputs,
    # named by output_names, in the order the network returns them
    output: str = "image"
    output_range: tuple[float, float] = (0.0, 255.0)   # what the network's image output spans
    input_scale: float = 1.0            # the network sees pixels * input_scale + input_offset
    input_offset: float = 0.0
    output_names: tuple[str, ...] = ()
    sample: Callable[[Path | None], np.ndarray] | None = None  # a batch of one real input to check with
    info: dict = field(default_factory=dict)

    @property
    def input_name(self) -> str:
        return "images" if self.input_dtype == "uint8" else "latents"

    @property
    def output_name(self) -> str:
        # Not "images": an output named like the input confuses tf2onnx.
        return "output_images" if self.output == "image" else "embeddings"


@dataclass(frozen=True)
class Deployable:
    """A task's registration: `build(source)` makes the Exportable for a registry name it answers to
    (`names`) or a file `claims(path)` says is its own."""

    kind: str
    names: tuple[str, ...]
    claims: Callable[[Path], bool]
    build: Callable[[str], Exportable]


_REGISTRY: list[Deployable] = []


def register(deployable: Deployable) -> Deployable:
    """Add a task's deployable network (called by the task's catalog module)."""
    _REGISTRY.append(deployable)
    return deployable


def deployables() -> list[Deployable]:
    """Every registered deployable network, once the tasks' catalogs are loaded."""
    from visiontk.plugins import load_catalogs   # the tasks register theirs (this module knows no task)

    load_catalogs()
    return list(_REGISTRY)


def resolve(source: str) -> Exportable:
    """The network a registry name or file stands for."""
    tensorflow()  # first, so that its start-up chatter stays hidden
    for entry in deployables():
        if source in entry.names:
            return entry.build(source)
    path = Path(source)
    if not path.exists():
        names = ", ".join(name for entry in deployables() for name in entry.names)
        raise BadInputError(f"{source}: no such file, and not an exportable model name ({names})")
    for entry in deployables():
        if entry.claims(path):
            return entry.build(source)
    kinds = ", ".join(entry.kind for entry in deployables())
    raise BadInputError(f"{source}: not a network visiontk can export (it exports {kinds})")


def weights_file_claims(read_structure: Callable[[Path], Any]) -> Callable[[Path], bool]:
    """A Deployable's `claims` for .weights.h5 files: those `read_structure` reads without a WeightsError
    (it reads the network's shape from the file's kernels)."""
    from visiontk.errors import WeightsError

    def claims(path: Path) -> bool:
        if not (path.is_file() and path.name.endswith(".weights.h5")):
            return False
        try:
            read_structure(path)
        except WeightsError:
            return False
        return True

    return claims
