"""`index`: describe a library of images into an index file, incrementally.

Re-running on the same index only looks again at what changed: a file whose path, size and
modification time are those recorded keeps its row without being read; one whose size or time changed
is hashed (sha256), and only re-described when its content did change; files not yet in the index are
added, and rows whose file is gone from the disk are dropped.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from visiontk import runtime
from visiontk.errors import BadInputError, UsageError, VisiontkError, from_os_error
from visiontk.similar.describe import Describer, FileFacts
from visiontk.similar.library import Index, Settings, check_index_path, concatenate, load_index


@dataclass
class IndexReport:
    """What an `index` run did."""

    index: Index
    added: int = 0         # new files, described
    changed: int = 0       # files whose content changed, described again
    unchanged: int = 0     # kept without describing
    removed: int = 0       # rows dropped: their file is gone
    failed: int = 0        # unreadable inputs (reported through on_failure)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        described = self.added + self.changed
        return {"images": len(self.index), "added": self.added, "changed": self.changed,
                "unchanged": self.unchanged, "removed": self.removed, "failed": self.failed,
                "seconds": round(self.seconds, 2),
                "images_per_second": (round(described / self.seconds, 2) if described and self.seconds
                                      else None)}


def index(paths: Iterable[str | Path], out: str | Path | None = None, *, backbone: str | None = None,
          pooling: str | None = None, size: int | None = None,
          on_failure: Callable[[Path, VisiontkError], None] | None = None,
          describer: Describer | None = None) -> IndexReport:
    """Index image files into `out` (a .vtkidx file, updated in place when it exists; None: in memory).

    backbone/pooling/size default to those of the existing index, else Settings' defaults; an existing
    index made otherwise is refused. An unreadable image raises, or goes to `on_failure(path, error)`
    when given and is left out.
    """
    started = time.perf_counter()
    found = _previous_index(out)
    settings = _settings(found, backbone, pooling, size)
    previous = found or Index(settings)
    describer = describer or Describer(settings)
    report = IndexReport(Index(settings))
    keep, todo, digests = _triage(previous, list(paths), report, on_failure)
    with runtime.progress(total=len(todo), desc="describing", unit="image") as bar:
        fresh = describer.describe_files(todo, digests, on_failure=_counting(on_failure, report),
                                         on_done=bar.update)
    known = set(previous.paths)
    report.changed = sum(path in known for path in fresh.paths)
    report.added = len(fresh) - report.changed
    report.index = concatenate([previous.rows(keep), fresh])
    if out is not None:
        report.index.save(out, overwrite=True)
    report.seconds = time.perf_counter() - started
    return report


def _previous_index(out: str | Path | None) -> Index | None:
    if out is None:
        return None
    out = check_index_path(Path(out))
    return load_index(out) if out.exists() else None


def _settings(previous: Index | None, backbone: str | None, pooling: str | None,
              size: int | None) -> Settings:
    base = previous.settings if previous else Settings()
    wanted = Settings(backbone or base.backbone, pooling or base.pooling, size or base.size)
    if previous and wanted != previous.settings:
        raise UsageError(f"this index was made with {previous.settings.describe()}: give the same options, "
                         "or index into a new file")
    return wanted


def _triage(previous: Index, paths: list, report: IndexReport,
            on_failure: Callable[[Path, VisiontkError], None] | None):
    """(rows of `previous` to keep, files to describe, sha256 of the files to describe)."""
    row_of = previous.position()
    keep: dict[str, int] = {}
    todo: dict[str, FileFacts] = {}
    digests: dict[str, str] = {}
    for path in paths:
        try:
            facts = _facts(path)
        except VisiontkError as exc:
            if on_failure is None:
                raise
            on_failure(Path(path), exc)
            report.failed += 1
            continue
        row = row_of.get(facts.path)
        if row is not None and (previous.file_sizes[row], previous.mtimes[row]) == (facts.size, facts.mtime):
            keep[facts.path] = row
            continue
        digests[facts.path] = _sha256(facts.path)
        if row is not None and previous.sha256[row] == digests[facts.path]:
            previous.mtimes[row], keep[facts.path] = facts.mtime, row   # touched, same content
            continue
        todo[facts.path] = facts
    report.unchanged = len(keep)
    seen = set(keep) | set(todo)
    # Rows of files not given this time stay while the file exists: one index can grow folder by folder.
    others = [i for i, path in enumerate(previous.paths) if path not in seen]
    still_there = [i for i in others if Path(previous.paths[i]).is_file()]
    report.removed = len(others) - len(still_there)
    return sorted([*keep.values(), *still_there]), list(todo.values()), digests


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    except OSError as exc:
        raise from_os_error(exc, path) from None
    return digest.hexdigest()


def _facts(path) -> FileFacts:
    try:
        return FileFacts.of(path)
    except FileNotFoundError:
        raise BadInputError(f"{path}: no such file") from None
    except OSError as exc:
        raise from_os_error(exc, path) from None


def _counting(on_failure, report: IndexReport):
    if on_failure is None:
        return None

    def failed(path: Path, exc: VisiontkError) -> None:
        report.failed += 1
        on_failure(path, exc)
    return failed
