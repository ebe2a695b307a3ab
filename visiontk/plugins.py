"""How tasks plug into the shared pieces without those knowing any task.

Each task names a catalog module under the entry-point group `visiontk.catalogs` (pyproject.toml); the
module registers what the task brings (its weight sets with `visiontk.weights.register`) when imported.
The shared pieces call `load_catalogs()` before they look anything up. A package outside visiontk can
add a task the same way, by declaring its own entry point.
"""
from __future__ import annotations

import functools
from importlib.metadata import entry_points

GROUP = "visiontk.catalogs"


@functools.cache
def load_catalogs() -> tuple[str, ...]:
    """Import every registered catalog module once; returns their names."""
    loaded = []
    for entry in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        entry.load()
        loaded.append(entry.name)
    return tuple(loaded)
