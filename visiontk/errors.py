"""Exception types. The CLI maps each to its documented exit code in one place (visiontk/cli/main.py)."""
from __future__ import annotations

import errno


class VisiontkError(Exception):
    """Base of every error a user can act on. The message is shown as one line."""

    exit_code = 1


class BadInputError(VisiontkError):
    """Missing, unreadable, corrupt or unsupported input, or an output that may not be written (exit 3)."""

    exit_code = 3


class NoFaceError(BadInputError):
    """An image in which no face was found (exit 3)."""


class WeightsError(VisiontkError):
    """Pretrained weights missing, corrupt, or of the wrong kind (exit 4)."""

    exit_code = 4


class BatchFailedError(VisiontkError):
    """A batch ran to the end with --continue-on-error but some items failed (exit 5)."""

    exit_code = 5


class UsageError(VisiontkError):
    """Options that contradict each other or the environment, found outside argument parsing (exit 2)."""

    exit_code = 2


class DeviceError(VisiontkError):
    """The requested device is not available (exit 2, like a usage error)."""

    exit_code = 2


class OutputExistsError(BadInputError):
    """An output file exists and the command was not told to replace it (exit 3).

    The message names only the parameters the running command has: the CLI calls `for_options`."""

    def __init__(self, path, options: frozenset[str] = frozenset({"overwrite"})) -> None:
        self.path = path
        hints = []
        if "overwrite" in options:
            hints.append("use `overwrite` to replace it")
        if "skip_existing" in options:
            hints.append("`skip_existing` to leave it")
        hint = f" ({', or '.join(hints)})" if hints else " (remove it or choose another name)"
        super().__init__(f"{path}: output exists{hint}")

    def for_options(self, options: frozenset[str]) -> "OutputExistsError":
        return OutputExistsError(self.path, options)


# What a file-system error means to the user, by errno; everything else shows the system's own words.
_OS_ADVICE = {
    errno.EROFS: "read-only file system",
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.ENAMETOOLONG: "file name too long",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EISDIR: "is a folder, expected a file",
    errno.ENOENT: "no such file or folder",
    errno.EEXIST: "already exists",
}


def from_os_error(exc: OSError, path=None) -> BadInputError:
    """A file-system error (read-only disk, full disk, a file where a folder should be...) as a one-line
    BadInputError (exit 3) naming the file, since it is the user's environment and not a bug."""
    where = path if path is not None else (exc.filename if exc.filename is not None else None)
    reason = _OS_ADVICE.get(exc.errno) or exc.strerror or str(exc)
    return BadInputError(f"{where}: {reason}" if where is not None else reason)


def from_memory_error(what: str = "this job") -> BadInputError:
    return BadInputError(f"not enough memory for {what}; use smaller images or sizes")


# renamed_keyword and renamed_constants moved to visiontk.compat with the other old spellings; these
# names stay for one release.
from visiontk.compat import renamed_constants, renamed_keyword  # noqa: E402,F401
