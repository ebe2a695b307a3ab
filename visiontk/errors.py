"""Exception types. The CLI maps each to its documented exit code in one place (visiontk/cli/main.py)."""
from __future__ import annotations


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


class DeviceError(VisiontkError):
    """The requested device is not available (exit 2, like a usage error)."""

    exit_code = 2
