"""The index file (.vtkidx): one image per row, its descriptor, its hashes and what identifies the file.

Format (version 1): a NumPy .npz archive (read with allow_pickle=False) holding
  manifest     0-d str: JSON {"format": "visiontk-similar-index", "version": 1, "backbone", "pooling",
               "size", "dimensions"}: how the descriptors were made (the same must describe queries)
  paths        (N,) str: absolute paths
  file_sizes   (N,) int64 bytes; mtimes (N,) int64 nanoseconds; sha256 (N,) str: the file's content
  widths, heights (N,) int32: pixels, after EXIF rotation
  descriptors  (N, D) float32: unit-length global descriptors (backbones.descriptors); D = 0 for an
               index of hashes alone (backbone "none")
  hashes       (N, 8) uint64: pHash of the image under each rotation/flip (similar.hashing)
It is written to a temporary file and renamed into place, so a reader never sees half an index.
"""
from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from visiontk.errors import BadInputError, UsageError
from visiontk.imageio import check_input_file
from visiontk.atomic import atomic_output

FORMAT = "visiontk-similar-index"
VERSION = 1
EXTENSION = ".vtkidx"
HASHES_PER_IMAGE = 8
# The backbone of an index of hashes alone: fast (no network), finds exact and near-exact copies only.
HASHES_ONLY = "none"
_ROW_FIELDS = ("paths", "file_sizes", "mtimes", "sha256", "widths", "heights", "descriptors", "hashes")


@dataclass(frozen=True)
class Settings:
    """How descriptors are made; an index only ever holds descriptors made one way."""

    backbone: str = "vgg16"
    pooling: str = "gem"
    size: int = 256          # the image's long side, in pixels, when it enters the network

    def describe(self) -> str:
        return f"`backbone` {self.backbone}, `pooling` {self.pooling}, `size` {self.size}"

    @property
    def has_descriptors(self) -> bool:
        return self.backbone != HASHES_ONLY


@dataclass
class Index:
    settings: Settings
    paths: list[str] = field(default_factory=list)
    file_sizes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    mtimes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    sha256: list[str] = field(default_factory=list)
    widths: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    heights: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    descriptors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    hashes: np.ndarray = field(default_factory=lambda: np.zeros((0, HASHES_PER_IMAGE), np.uint64))

    def __len__(self) -> int:
        return len(self.paths)

    def rows(self, keep: list[int] | np.ndarray) -> "Index":
        """A new index of the rows numbered in `keep`, in that order."""
        keep = np.asarray(keep, np.int64)
        return replace(self, paths=[self.paths[i] for i in keep], sha256=[self.sha256[i] for i in keep],
                       file_sizes=self.file_sizes[keep], mtimes=self.mtimes[keep], widths=self.widths[keep],
                       heights=self.heights[keep], descriptors=self.descriptors[keep],
                       hashes=self.hashes[keep])

    def position(self) -> dict[str, int]:
        """Each path's row."""
        return {path: i for i, path in enumerate(self.paths)}

    def save(self, path: str | Path, overwrite: bool = True) -> Path:
        path = Path(path)
        manifest = {"format": FORMAT, "version": VERSION, **self.settings.__dict__,
                    "dimensions": int(self.descriptors.shape[1]) if len(self) else 0}
        with atomic_output(path, overwrite=overwrite) as tmp:
            with open(tmp, "wb") as handle:
                np.savez(handle, manifest=np.array(json.dumps(manifest)),
                         paths=np.array(self.paths, dtype=str), sha256=np.array(self.sha256, dtype=str),
                         file_sizes=self.file_sizes, mtimes=self.mtimes, widths=self.widths,
                         heights=self.heights, descriptors=self.descriptors.astype(np.float32),
                         hashes=self.hashes)
        return path


def concatenate(parts: list[Index]) -> Index:
    """One index of all rows of `parts` (same settings); a path in several parts keeps its last row."""
    settings = parts[0].settings
    for part in parts[1:]:
        if part.settings != settings:
            raise UsageError(f"can't merge indexes made with {part.settings.describe()} and "
                             f"{settings.describe()}; index again with the same options")
    nonempty = [p for p in parts if len(p)] or parts[:1]
    merged = Index(settings,
                   paths=[x for p in nonempty for x in p.paths],
                   sha256=[x for p in nonempty for x in p.sha256],
                   **{name: np.concatenate([getattr(p, name) for p in nonempty])
                      for name in ("file_sizes", "mtimes", "widths", "heights", "descriptors", "hashes")})
    last = merged.position()
    return merged.rows(sorted(last.values()))


def merge(paths: list[str | Path], out: str | Path | None = None, overwrite: bool = False) -> Index:
    """Merge index files (say, from `visiontk similar index --shard K/N`) into one, written to `out`."""
    if not paths:
        raise UsageError("give the index files to merge")
    if out is not None:
        check_index_path(Path(out))
    merged = concatenate([load_index(path) for path in paths])
    if out is not None:
        merged.save(out, overwrite=overwrite)
    return merged


def check_index_path(path: Path) -> Path:
    if path.suffix.lower() != EXTENSION:
        raise BadInputError(f"{path}: an index file must end in {EXTENSION}")
    return path


def load_index(path: str | Path) -> Index:
    """Read an index file written by `index` (a missing, foreign or damaged file is a BadInputError)."""
    path = check_index_path(Path(path))
    check_input_file(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            manifest = json.loads(str(archive["manifest"]))
            arrays = {name: archive[name] for name in _ROW_FIELDS}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BadInputError(f"{path}: not a readable visiontk index ({detail}); "
                            "index the folder again") from None
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise BadInputError(f"{path}: not a visiontk index of version {VERSION} "
                            f"(found {manifest.get('format')} {manifest.get('version')}); index again")
    settings = Settings(manifest["backbone"], manifest["pooling"], int(manifest["size"]))
    index = Index(settings, paths=arrays["paths"].tolist(), sha256=arrays["sha256"].tolist(),
                  file_sizes=arrays["file_sizes"], mtimes=arrays["mtimes"], widths=arrays["widths"],
                  heights=arrays["heights"], descriptors=arrays["descriptors"], hashes=arrays["hashes"])
    if len({len(index.paths), *(len(arrays[name]) for name in _ROW_FIELDS)}) != 1:
        raise BadInputError(f"{path}: the index's arrays disagree in length; index the folder again")
    return index
