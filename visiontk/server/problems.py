"""Errors as HTTP answers: a JSON body with the CLI's error kind and exit code, and the right status.

Body: {"ok": false, "error": one line, "kind": ..., "exit_code": the CLI's for the same failure,
"status": the HTTP status}. Nothing else leaves the server: no traceback, no server-side path.
"""
from __future__ import annotations

from starlette.exceptions import HTTPException

from visiontk.errors import (BadInputError, BatchFailedError, DeviceError, NoFaceError, UsageError,
                             VisiontkError, WeightsError)

EXIT_INTERNAL = 70   # as the CLI's (visiontk.cli.main)


class HTTPProblem(HTTPException):
    """A request refused with `status` and a one-line message; `headers` go with the answer. (An
    HTTPException, so that FastAPI passes it on unchanged when it is raised while a form is read.)"""

    def __init__(self, status: int, kind: str, message: str, exit_code: int = 3,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(status, message, headers)
        self.status, self.kind, self.exit_code, self.message = status, kind, exit_code, message

    def __str__(self) -> str:
        return self.message

    def body(self) -> dict:
        return {"ok": False, "error": self.message, "kind": self.kind, "exit_code": self.exit_code,
                "status": self.status}


def too_large(message: str) -> HTTPProblem:
    return HTTPProblem(413, "too_large", message)


def bad_parameters(message: str) -> HTTPProblem:
    return HTTPProblem(422, "bad_parameters", message, exit_code=UsageError.exit_code)


def unknown_model(message: str) -> HTTPProblem:
    return HTTPProblem(404, "unknown_model", message, exit_code=WeightsError.exit_code)


# Most specific first: NoFaceError is a BadInputError.
_KINDS: tuple[tuple[type, int, str], ...] = (
    (NoFaceError, 400, "no_face"),
    (BadInputError, 400, "bad_input"),
    (UsageError, 422, "usage"),
    (DeviceError, 422, "usage"),
    (WeightsError, 500, "weights"),
    (BatchFailedError, 400, "batch_failed"),
)


def from_visiontk_error(exc: VisiontkError) -> HTTPProblem:
    """The HTTP answer for a project error."""
    message = str(exc)
    for kind, status, name in _KINDS:
        if isinstance(exc, kind):
            return HTTPProblem(status, name, message, exc.exit_code)
    return HTTPProblem(400, "error", message, exc.exit_code)


def internal() -> HTTPProblem:
    return HTTPProblem(500, "internal", "internal error (the server log has the details)", EXIT_INTERNAL)
