"""What `visiontk serve` was told, and the security rules checked before anything listens."""
from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from visiontk.errors import UsageError

TASKS = ("face", "sr", "style", "gan")
TOKEN_VARIABLE = "VISIONTK_TOKEN"
MIN_TOKEN_LENGTH = 16   # a shorter secret on the network is guessable


@dataclass
class ServeSettings:
    host: str = "127.0.0.1"
    port: int = 8000
    models: tuple[str, ...] = TASKS
    gallery: Path | None = None
    allow_enroll: bool = False
    token: str | None = None
    workers: int = 2                 # threads running models; requests beyond them wait in the queue
    queue: int = 16                  # requests that may wait; more are refused with 503 and Retry-After
    timeout: float = 60.0            # seconds a request may take from its arrival to its answer
    upload_timeout: float = 30.0     # seconds its body may take to arrive (a slow client holds a connection)
    max_upload_mb: float = 20.0
    max_pixels: int = 16_000_000     # of an input image (and of an upscaled output)
    max_frames: int = 100            # of an animated input (only the first is used)
    cors: tuple[str, ...] = ()
    batch_wait: float = 0.005        # seconds a face embedding waits for others' to share a call (0: none)
    styles: tuple[str, ...] = ()     # shipped names or .weights.h5 files; none given: every shipped style

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    def checked(self) -> "ServeSettings":
        """These settings, refused (UsageError) where they would expose the models or make no sense."""
        unknown = sorted(set(self.models) - set(TASKS))
        if unknown or not self.models:
            raise UsageError(f"--models {','.join(self.models)}: choose among {','.join(TASKS)}")
        if not is_loopback(self.host) and not self.token:
            raise UsageError(f"--host {self.host} listens beyond this machine: give a token (--token or "
                             f"{TOKEN_VARIABLE}) that clients must send, or use --host 127.0.0.1")
        if self.token is not None and len(self.token) < MIN_TOKEN_LENGTH:
            raise UsageError(f"the token is {len(self.token)} characters; use at least {MIN_TOKEN_LENGTH} "
                             "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe())'`)")
        if self.allow_enroll and self.gallery is None:
            raise UsageError("--allow-enroll adds people to the served gallery: give --gallery FILE too")
        if self.gallery is not None and "face" not in self.models:
            raise UsageError("--gallery is for face identification: serve the face models too")
        return self


def is_loopback(host: str) -> bool:
    """Whether `host` only accepts connections from this machine (localhost, 127.x, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:   # a host name: it may resolve to anything
        return False


def token_from_environment() -> str | None:
    return os.environ.get(TOKEN_VARIABLE) or None
