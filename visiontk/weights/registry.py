"""The pretrained-weights registry: what each named weight set is, where to find it, and how to check it.

A file is looked for, in order, in the folders of VISIONTK_MODELS (colon-separated), in the models we
ship (`models/` in the source tree, installed as `visiontk._models`), in the user cache
($VISIONTK_CACHE, else $XDG_CACHE_HOME/visiontk, else ~/.cache/visiontk), and in the pip package that
ships it. A file counts only if its hash is one the registry knows, so a truncated or tampered file is
refused with a WeightsError (exit 4) before Keras ever reads it.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import json
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from visiontk.errors import WeightsError

log = logging.getLogger("visiontk")


@dataclass(frozen=True)
class KnownFile:
    """One file accepted for a weight set, identified by its hash."""

    filename: str
    sha256: str | None = None
    md5: str | None = None    # Keras records its downloads' hashes as md5
    url: str | None = None
    size: int | None = None

    def matches(self, digest: "Digest") -> bool:
        if self.sha256:
            return digest.sha256 == self.sha256
        return bool(self.md5) and digest.md5 == self.md5


@dataclass(frozen=True)
class WeightSpec:
    """A named set of weights."""

    name: str
    description: str
    files: tuple[KnownFile, ...]
    source: str                        # where it comes from, in words
    pip_package: str | None = None     # importable package whose folder holds files[0] at pip_subpath
    pip_subpath: str = ""
    card: str | None = None            # model card, for weights we ship
    # For files in another layout: importer(source, spec) -> the converted file (`models import`)
    importer: Callable[[Path, "WeightSpec"], Path] | None = None
    tags: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Digest:
    sha256: str
    md5: str
    size: int


_REGISTRY: dict[str, WeightSpec] = {}


def register(spec: WeightSpec) -> WeightSpec:
    _REGISTRY[spec.name] = spec
    return spec


def register_shipped(name: str, description: str, sha256: str, size: int, tag: str) -> WeightSpec:
    """Register weights shipped with visiontk: models/NAME.weights.h5 with its model card models/NAME.md."""
    return register(WeightSpec(name=name, description=description, source="shipped in models/",
                               files=(KnownFile(f"{name}.weights.h5", sha256=sha256, size=size),),
                               card=f"{name}.md", tags=(tag,)))


def all_specs() -> list[WeightSpec]:
    _load_catalog()
    return sorted(_REGISTRY.values(), key=lambda s: s.name)


def get_spec(name: str) -> WeightSpec:
    _load_catalog()
    if name not in _REGISTRY:
        raise WeightsError(f"no weights named {name!r} (see `visiontk models list`)")
    return _REGISTRY[name]


def _load_catalog() -> None:
    from visiontk.plugins import load_catalogs   # the tasks' weight sets (this package knows no task)

    load_catalogs()


# ---- where files live -------------------------------------------------------------------------------

def cache_dir() -> Path:
    """The user cache, where fetched, imported and converted weights go."""
    if os.environ.get("VISIONTK_CACHE"):
        return Path(os.environ["VISIONTK_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "visiontk"


def shipped_dir() -> Path:
    """The folder of weights shipped with visiontk (`models/`)."""
    spec = importlib.util.find_spec("visiontk._models")
    if spec is not None and spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0])
    return Path(__file__).resolve().parents[2] / "models"


def search_dirs() -> list[Path]:
    """Folders searched for weight files, in order."""
    user = [Path(p).expanduser() for p in os.environ.get("VISIONTK_MODELS", "").split(":") if p]
    return user + [shipped_dir(), cache_dir()]


def _pip_file(spec: WeightSpec) -> Path | None:
    if not spec.pip_package:
        return None
    try:
        found = importlib.util.find_spec(spec.pip_package)
    except (ImportError, ValueError):
        return None
    if found is None or not found.submodule_search_locations:
        return None
    path = Path(list(found.submodule_search_locations)[0]) / spec.pip_subpath / spec.files[0].filename
    return path if path.is_file() else None


def candidates(spec: WeightSpec) -> Iterator[Path]:
    """Every existing file that could hold `spec`, in resolution order (unverified)."""
    files = accepted_files(spec)
    for folder in search_dirs():
        for known in files:
            path = folder / known.filename
            if path.is_file():
                yield path
    pip_path = _pip_file(spec)
    if pip_path:
        yield pip_path


# ---- hashing ------------------------------------------------------------------------------------------

def digest(path: Path, fresh: bool = False) -> Digest:
    """sha256 and md5 of a file, remembered so that big files are hashed once; `fresh` re-hashes.

    The memo is keyed by path, device, inode, size, mtime and ctime. A rewrite that keeps the size and
    sets the mtime back still changes the ctime (which no user call can set) or the inode (a copy
    renamed into place), so it can't be mistaken for the file that was hashed.
    """
    path = Path(path).resolve()
    stat = path.stat()
    key = (f"{path}|{stat.st_dev}|{stat.st_ino}|{stat.st_size}|{stat.st_mtime_ns}|{stat.st_ctime_ns}")
    memo = _read_memo()
    if key in memo and not fresh:
        return Digest(memo[key]["sha256"], memo[key]["md5"], stat.st_size)
    result = hash_file(path)
    # Entries of this path under older keys are stale: drop them so the memo doesn't grow for ever.
    memo = {k: v for k, v in memo.items() if not k.startswith(f"{path}|")}
    memo[key] = {"sha256": result.sha256, "md5": result.md5}
    _write_memo(memo)
    return result


def hash_file(path: Path) -> Digest:
    """sha256 and md5 of a file, read now (no memo)."""
    sha, md5 = hashlib.sha256(), hashlib.md5()
    size = 0
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
            md5.update(block)
            size += len(block)
    return Digest(sha.hexdigest(), md5.hexdigest(), size)


def _memo_path() -> Path:
    return cache_dir() / "hashes.json"


def _read_memo() -> dict:
    """The remembered hashes; a damaged memo file is only a lost speed-up, so it reads as empty."""
    try:
        memo = json.loads(_memo_path().read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(memo, dict):
        return {}
    return {k: v for k, v in memo.items()
            if isinstance(v, dict) and isinstance(v.get("sha256"), str) and isinstance(v.get("md5"), str)}


def _write_memo(memo: dict) -> None:
    # Only a speed-up: an unwritable cache just means hashing again next time.
    with contextlib.suppress(OSError):
        write_atomic_bytes(_memo_path(), json.dumps(memo, indent=0).encode())


def match(spec: WeightSpec, path: Path, fresh: bool = False) -> KnownFile | None:
    d = digest(path, fresh)
    return next((known for known in accepted_files(spec) if known.matches(d)), None)


def accepted_files(spec: WeightSpec) -> tuple[KnownFile, ...]:
    """The catalog's files for `spec`, plus the one `models import` converted with its importer."""
    record = _import_record(spec)
    if not spec.importer or not record.is_file():
        return spec.files
    try:
        sha256, _, filename = record.read_text().strip().partition("  ")
    except (OSError, ValueError):  # damaged: as if never imported (`models import` writes it again)
        return spec.files
    if len(sha256) != 64 or not filename or "/" in filename:
        return spec.files
    return spec.files + (KnownFile(filename, sha256=sha256),)


def _import_record(spec: WeightSpec) -> Path:
    return cache_dir() / f"{spec.name}.imported.sha256"


# ---- resolving, fetching, importing -----------------------------------------------------------------

def resolve(name: str, download: bool = True) -> Path:
    """The verified file for weight set `name`, or WeightsError saying how to get it.

    Weights with a download address that are nowhere here are fetched into the cache on first use
    (with a progress bar and a hash check, as Keras does), unless VISIONTK_OFFLINE is set."""
    spec = get_spec(name)
    rejected = []
    for path in candidates(spec):
        if match(spec, path):
            return path
        rejected.append(path)
    if rejected:
        raise WeightsError(f"{rejected[0]}: weights file for {name!r} is corrupt, truncated or not the "
                           f"expected file (hash mismatch); delete it and run `visiontk models fetch {name}` "
                           f"or `visiontk models import {name} FILE`")
    if download and not offline() and any(k.url for k in spec.files):
        return fetch(name)
    raise WeightsError(f"weights {name!r} not found ({spec.source}); {how_to_get(spec)}")


def load_into(model, weights: str | os.PathLike | None):
    """Load `weights` into a freshly built Keras `model` and return it, the way keras.applications
    builders take `weights=`: a registry name (resolved, fetched if need be), a .weights.h5 path, or
    None (left as initialised)."""
    if weights is None:
        return model
    path = Path(weights)
    _load_catalog()
    if not path.exists() and str(weights) in _REGISTRY:
        path = resolve(str(weights))
    elif not path.exists():
        raise WeightsError(f"{weights}: no such weights file or registry name (see `visiontk models list`)")
    try:
        model.load_weights(str(path))
    except (OSError, ValueError, KeyError) as exc:
        reason = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise WeightsError(f"{path}: these weights do not fit {model.name} ({reason})") from None
    return model


def offline() -> bool:
    """VISIONTK_OFFLINE=1 (or `visiontk --offline`) turns off downloads on first use."""
    return os.environ.get("VISIONTK_OFFLINE", "").strip().lower() not in ("", "0", "no", "false")


def download_url(known: KnownFile) -> str | None:
    """Where `known` is downloaded from; VISIONTK_WEIGHTS_URL replaces the catalog's address by a
    mirror holding the files by name (a local server in the tests, a company mirror in real use)."""
    base = os.environ.get("VISIONTK_WEIGHTS_URL")
    if base and known.url:
        return f"{base.rstrip('/')}/{known.filename}"
    return known.url


def how_to_get(spec: WeightSpec) -> str:
    if spec.pip_package:
        return f"install them with `pip install {spec.pip_package.replace('_', '-')}`"
    if any(k.url for k in spec.files):
        return (f"run `visiontk models fetch {spec.name}`, or on an offline machine copy the file and run "
                f"`visiontk models import {spec.name} FILE` (or put it in a folder listed in VISIONTK_MODELS)")
    return f"run `visiontk models import {spec.name} FILE` or reinstall visiontk"


def present(name: str) -> Path | None:
    """Like resolve, but None instead of an error, and never a download."""
    try:
        return resolve(name, download=False)
    except WeightsError:
        return None


def fetch(name: str, timeout: float = 30.0) -> Path:
    """Download weight set `name` into the cache, checking its hash."""
    import urllib.request

    from visiontk.runtime import progress, progress_enabled

    spec = get_spec(name)
    existing = present(name)
    if existing:
        return existing
    known = next((k for k in spec.files if k.url), None)
    if known is None:
        raise WeightsError(f"{name!r} has no download address ({spec.source}); {how_to_get(spec)}")
    url = download_url(known)
    target = cache_dir() / known.filename
    try:
        with cache_lock(name):
            if target.is_file() and known.matches(digest(target)):  # another process fetched it meanwhile
                return target
            # A note beside the progress bar on a terminal; piped stderr (a log, a script) gets it with
            # -v only, so that a failure there stays one line.
            size = f" ({known.size / 1e6:.1f} MB)" if known.size else ""
            log.log(logging.WARNING if progress_enabled() else logging.INFO, "downloading %s%s from %s",
                    name, size, url)
            with urllib.request.urlopen(url, timeout=timeout) as response:
                total = int(response.headers.get("Content-Length") or 0) or None
                with atomic_cache_file(target) as tmp, open(tmp, "wb") as out, \
                        progress(total=total, unit="B", unit_scale=True, desc=name) as bar:
                    for block in iter(lambda: response.read(1 << 20), b""):
                        out.write(block)
                        bar.update(len(block))
                    out.flush()
                    if not known.matches(hash_file(tmp)):
                        raise WeightsError(f"downloaded {url} but its hash is wrong (a broken download or "
                                           "a changed file); nothing was kept, try again")
    except OSError as exc:
        raise WeightsError(f"could not download {name!r} from {url} ({exc}); offline, download "
                           f"{known.filename} elsewhere and run `visiontk models import {name} FILE`") from None
    return target


def import_file(name: str, source: str | os.PathLike) -> Path:
    """Copy a weights file the user has into the cache, after checking it is the registered file."""
    spec = get_spec(name)
    source = Path(source)
    if not source.exists():
        raise WeightsError(f"{source}: no such file")
    if not source.is_file():
        raise WeightsError(f"{source}: not a regular file (a folder, pipe or device); give the weights file")
    known = match(spec, source)
    if known is None and spec.importer:
        target = spec.importer(source, spec)
        # The converted file's hash can't be in the catalog: record it, so it is verified like the others.
        write_atomic_bytes(_import_record(spec), f"{digest(target).sha256}  {target.name}\n".encode())
        return target
    if known is None:
        raise WeightsError(f"{source}: not a known file for {name!r} (hash mismatch); expected "
                           + " or ".join(k.filename for k in spec.files))
    target = cache_dir() / known.filename
    with cache_lock(name), atomic_cache_file(target) as tmp:
        shutil.copyfile(source, tmp)
    return target


def status(spec: WeightSpec, fresh: bool = False) -> dict:
    """What `models list` and `models verify` (fresh: re-hashing every file) report for one weight set:
    the file resolution would use, and each file found with whether its hash is right."""
    files = [{"path": str(p), "valid": match(spec, p, fresh) is not None} for p in candidates(spec)]
    valid = next((f["path"] for f in files if f["valid"]), None)
    return {"name": spec.name, "present": valid is not None,
            "path": valid or (files[0]["path"] if files else None),
            "valid": valid is not None if files else None, "files": files, "source": spec.source,
            "description": spec.description}


# ---- the cache ----------------------------------------------------------------------------------------

@contextlib.contextmanager
def cache_lock(name: str) -> Iterator[None]:
    """An exclusive lock so that two processes don't fetch or convert the same weights at once."""
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle = open(folder / f".{name}.lock", "w")
    except OSError as exc:
        raise WeightsError(f"cache folder {folder} is not writable ({exc.strerror}); set VISIONTK_CACHE "
                           "to a writable folder") from None
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


@contextlib.contextmanager
def atomic_cache_file(target: Path) -> Iterator[Path]:
    """A temporary file beside `target`, renamed onto it on success, removed on failure (the same
    writer as every output, visiontk.atomic.atomic_file); an unwritable cache is a WeightsError."""
    from visiontk.atomic import atomic_file

    with contextlib.ExitStack() as stack:
        try:
            tmp = stack.enter_context(atomic_file(target))
        except OSError as exc:  # only the cache's own failure; the caller's work reports its own
            raise WeightsError(f"cache folder {target.parent} is not writable ({exc.strerror or exc}); "
                               "set VISIONTK_CACHE to a writable folder") from None
        yield tmp


def write_atomic_bytes(target: Path, data: bytes) -> None:
    with atomic_cache_file(target) as tmp:
        Path(tmp).write_bytes(data)


def converted(name: str, source: Path, convert: Callable[[Path, Path], None], suffix: str = ".weights.h5") -> Path:
    """A file derived once from `source` (e.g. dlib's model turned into Keras weights) and kept in the
    cache under the source's sha256, so a changed source is converted again."""
    source_sha = digest(source).sha256
    target = cache_dir() / "converted" / f"{name}-{source_sha[:16]}{suffix}"
    if target.is_file():
        return target
    with cache_lock(name):
        if not target.is_file():
            with atomic_cache_file(target) as tmp:
                convert(source, tmp)
    return target
