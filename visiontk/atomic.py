"""Files written whole: the one way visiontk writes a file (images, videos, galleries, runs, weights).

A result is written to a temporary file beside its target and renamed into place, so a reader never
sees half a file and a failure never clobbers an existing one; the file gets the mode a plain `open`
would give it (the umask is respected).
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import socket
import stat
import tempfile
import time
from pathlib import Path
from typing import Iterator

from visiontk.errors import BadInputError, OutputExistsError, from_os_error


def check_output(path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Fail early, before any work, if `path` exists and may not be overwritten, or can't be a file."""
    path = Path(path)
    if len(os.fsencode(path.name)) > NAME_MAX:
        raise BadInputError(f"{path}: file name too long (over {NAME_MAX} bytes)")
    if path.is_dir():
        raise BadInputError(f"{path}: output is a directory")
    if path.exists() and not overwrite:
        raise OutputExistsError(path)
    if path.exists() and not path.is_file():  # renaming onto /dev/null or a FIFO would replace it
        raise BadInputError(f"{path}: not a regular file (a pipe, socket or device); visiontk writes files")
    for parent in path.parents:  # a file where a folder must be (ENOTDIR) is caught before the work
        if parent.exists():
            if not parent.is_dir():
                raise BadInputError(f"{parent}: is a file, but the output {path.name} needs it to be a "
                                    "folder")
            break
    return path


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success rename it onto `path`, on failure delete it.

    This is the one way visiontk writes a file. The file gets the mode a plain `open` would give it
    (0666 less the umask, or the mode of the file it replaces), and file-system failures (read-only
    or full disk, a file where a folder should be) become a one-line BadInputError.
    """
    path = check_output(path, overwrite)
    try:
        with atomic_file(path, replace=overwrite) as tmp:
            yield tmp
    except OSError as exc:
        raise from_os_error(exc, path) from None


# Temporary names are `.NAME.HOST-PID.RANDOM.part.EXT`: HOST (a short hash of the host name) and PID
# name the writer, so that a later run can tell a temporary file stranded by a killed writer from one
# being written. NAME is cut so that the whole fits the 255-byte limit of most file systems, whatever
# the length of the user's name.
NAME_MAX = 255
_PART = ".part"
_RANDOM = 8
_cleaned: set[Path] = set()


def _host() -> str:
    return hashlib.sha1(socket.gethostname().encode()).hexdigest()[:6]


def _temp_prefix(path: Path) -> tuple[str, str]:
    # The whole compound extension is kept (Keras insists on NAME.weights.h5), unless it is absurdly long.
    extension = "".join(path.suffixes)
    suffix = _PART + (extension if len(os.fsencode(extension)) <= 32 else path.suffix)
    writer = f"{_host()}-{os.getpid()}"
    room = NAME_MAX - len(os.fsencode(suffix)) - len(writer) - _RANDOM - 3
    name = os.fsencode(path.name)[:max(room, 1)].decode(errors="ignore") or "x"
    return f".{name}.{writer}.", suffix


@contextlib.contextmanager
def atomic_file(path: Path, replace: bool = True) -> Iterator[Path]:
    """The primitive under atomic_output (also used by the weights cache): a temporary file beside
    `path`, renamed onto it on success and removed on failure. OSError passes through.

    With replace=False the file is linked into place, which fails if `path` appeared meanwhile (say,
    a second run writing the same output): of two such runs one wins and the other is refused,
    rather than the later silently replacing the earlier.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stranded_temps(path.parent)
    prefix, suffix = _temp_prefix(path)
    fd, tmp_name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=path.parent)
    tmp = Path(tmp_name)
    try:
        os.fchmod(fd, _mode_for(path))
        os.close(fd)
        yield tmp
        if replace:
            os.replace(tmp, path)
        else:
            _link_new(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _link_new(tmp: Path, path: Path) -> None:
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise OutputExistsError(path) from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
        # A file system without hard links (FAT, some network shares): check, then rename.
        if path.exists():
            raise OutputExistsError(path) from None
        os.replace(tmp, path)


def _mode_for(path: Path) -> int:
    """The mode `open()` would have given a new file, or the mode of the file being replaced."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return 0o666 & ~_umask()


def _umask() -> int:
    # os.umask can only be read by setting it; set it straight back.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _remove_stranded_temps(folder: Path) -> None:
    """Delete temporary files left in `folder` by killed writers on this host (their process is gone);
    once per folder per process, so that a big batch doesn't rescan its output folder for every file.
    Files of writers on other hosts (a shared folder) are left alone: we can't tell if they live."""
    if folder in _cleaned:
        return
    _cleaned.add(folder)
    host = _host()
    try:
        entries = [(e, m) for e in os.scandir(folder) if (m := _STRANDED.match(e.name))]
    except OSError:
        return
    for entry, found in entries:
        if found["host"] != host or _alive(int(found["pid"])):
            continue
        with contextlib.suppress(OSError):
            if entry.is_file(follow_symlinks=False) and time.time() - entry.stat().st_mtime > STRANDED_AGE:
                os.unlink(entry.path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, but another user's
        return True
    return True


# A reused PID makes a dead writer look alive (its file stays until a later run); the age guards the
# opposite, a file whose name was just read while its writer was between creating and renaming it.
STRANDED_AGE = 2.0
_STRANDED = re.compile(r"^\..+\.(?P<host>[0-9a-f]{6})-(?P<pid>\d+)\.[A-Za-z0-9_]{%d}\.part(\.[^.]*)*$"
                       % _RANDOM)
