"""Hostile uploads: body size and upload time enforced while the bytes arrive, pixel and frame counts
read from the image's header before anything is decoded (a decompression bomb never expands)."""
from __future__ import annotations

import asyncio
import io
import tempfile
from pathlib import Path, PurePosixPath, PureWindowsPath

from PIL import Image, UnidentifiedImageError

from visiontk.errors import BadInputError
from visiontk.imageio import IMAGE_EXTENSIONS, Picture, read_picture
from visiontk.server.problems import HTTPProblem, too_large


def upload_too_slow(seconds: float) -> HTTPProblem:
    return HTTPProblem(408, "timeout", f"the upload did not arrive within {seconds:g} s (--upload-timeout)")


class UploadLimits:
    """ASGI middleware: refuse a body over `max_bytes` (413; by its Content-Length at once, else as soon as
    the stream passes it) and a body not fully arrived within `seconds` (408), so a slow or endless
    upload holds no more than one connection for a bounded time."""

    def __init__(self, app, max_bytes: int, seconds: float) -> None:
        self.app, self.max_bytes, self.seconds = app, max_bytes, seconds

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            return await self._refuse(self._too_large(), scope, receive, send)
        loop = asyncio.get_running_loop()
        deadline, received = loop.time() + self.seconds, 0

        async def limited_receive():
            nonlocal received
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - loop.time()))
            except asyncio.TimeoutError:
                raise upload_too_slow(self.seconds) from None
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise self._too_large()
            return message

        await self.app(scope, limited_receive, send)

    def _too_large(self) -> HTTPProblem:
        return too_large(f"the request is larger than the server's limit of "
                         f"{self.max_bytes / 1024 / 1024:g} MB (--max-upload-mb)")

    @staticmethod
    async def _refuse(problem: HTTPProblem, scope, receive, send) -> None:
        from starlette.responses import JSONResponse

        response = JSONResponse(problem.body(), problem.status, {"Connection": "close"})
        await response(scope, receive, send)


def upload_label(field: str, filename: str | None) -> str:
    """How errors and records name an upload: its file name as the client gave it (no folders), or the
    form field's name."""
    name = PureWindowsPath(PurePosixPath(filename or "").name).name.strip()[:200]
    return name or field


def read_upload(data: bytes, label: str, max_pixels: int, max_frames: int) -> Picture:
    """The uploaded image as a Picture (like a file the CLI reads: EXIF orientation, alpha, 16 bits), or
    BadInputError (400) / too_large (413) naming `label`, decided before decoding any pixel."""
    if not data:
        raise BadInputError(f"{label}: empty upload")
    try:
        with Image.open(io.BytesIO(data)) as image:      # reads the header only
            width, height = image.size
            kind = image.format
            if width * height > max_pixels:
                raise too_large(f"{label}: image is {width}x{height} pixels, over the server's limit of "
                                f"{max_pixels} (--max-pixels)")
            frames = getattr(image, "n_frames", 1)
            if frames > max_frames:
                raise too_large(f"{label}: image has {frames} frames, over the server's limit of "
                                f"{max_frames} (--max-frames)")
    except UnidentifiedImageError:
        raise BadInputError(f"{label}: not an image visiontk can read (supported: "
                            f"{', '.join(IMAGE_EXTENSIONS)})") from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise BadInputError(f"{label}: corrupt or truncated image ({exc})") from None
    # Decoded by the CLI's reader, from a private temporary file, for the same pictures from the same bytes.
    with tempfile.TemporaryDirectory(prefix="visiontk-upload-") as folder:
        path = Path(folder) / f"upload.{(kind or 'img').lower()}"
        path.write_bytes(data)
        try:
            picture = read_picture(path)
        except BadInputError as exc:
            raise type(exc)(str(exc).replace(str(path), label)) from None
    picture.path = None
    return picture
