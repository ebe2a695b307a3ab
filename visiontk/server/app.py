"""The HTTP API: routes under /v1/ calling the tasks' Python APIs, health, metrics, and the web page.

Every answer is JSON shaped like the CLI's --json record for the same work (`input` is the upload's
file name); an image result comes as the image itself, its record in the X-Visiontk-Record header, or
with `Accept: application/json` as that record with the image as a data URL in `image`.
"""
from __future__ import annotations

import asyncio
import base64
import hmac
import json
import logging
import tempfile
import time
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Callable, Literal

import numpy as np
from fastapi import Depends, FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from fastapi.security import HTTPBearer
from PIL import Image
from starlette.exceptions import HTTPException

from visiontk import __version__
from visiontk.cli.common import json_line
from visiontk.errors import BadInputError, VisiontkError
from visiontk.face.detect import DEFAULT_MIN_CONFIDENCE, DEFAULT_MIN_FACE
from visiontk.imageio import Picture, write_image
from visiontk.server import metrics as prometheus
from visiontk.server.limits import UploadLimits, read_upload, upload_label
from visiontk.server.models import ServedModels
from visiontk.server.problems import (HTTPProblem, bad_parameters, from_visiontk_error, internal, too_large,
                                      unknown_model)
from visiontk.server.runner import EXIT_TEMPORARY, Runner
from visiontk.server.settings import ServeSettings

log = logging.getLogger("visiontk.server")
STATIC = files("visiontk.server") / "static"
PROTECTED = ("/v1/", "/metrics")      # what a token guards; the page, /docs and the probes are open
IMAGE_FORMATS = {"png": ("PNG", "image/png", ".png"), "jpeg": ("JPEG", "image/jpeg", ".jpg")}
MAX_NAME = 100

# Form fields shared by several routes, with the CLI's defaults and ranges.
MinConfidence = Annotated[float, Form(ge=0, le=1, description="Detector confidence a face needs.")]
MinFace = Annotated[int, Form(ge=4, le=100_000, description="Smallest face to look for, in pixels.")]
FaceIndex = Annotated[int, Form(ge=0, le=1000, description="Which face: 0 = the largest.")]
MaxDistance = Annotated[float | None, Form(ge=0, le=10, description="Same person at most this far apart "
                                                                     "[default: the model's].")]
OutputFormat = Annotated[Literal["png", "jpeg"], Form(description="Format of the image returned.")]
Upload = Annotated[UploadFile, File(description="An image file (JPEG, PNG, WebP, BMP, TIFF, GIF).")]
Scale = Annotated[int | None, Form(ge=2, le=4, description="2, 3 or 4 [default: 4, or the model's].")]
SrModel = Annotated[str | None, Form(description="A served EDSR (GET /v1/models) [default: edsr-xSCALE].")]
StyleModel = Annotated[str, Form(description="A served style network (GET /v1/models).")]
StyleSize = Annotated[int, Form(ge=16, le=4096, description="Long side of the result, in pixels.")]
Generator = Annotated[str, Form(description="A served generator (GET /v1/models).")]
Seed = Annotated[int | None, Form(ge=0, le=2**31 - 1, description="[default: random; the record says]")]


class Gate:
    """ASGI middleware around everything: the token check (before any body is read), the request's
    deadline, and the metrics of every answer."""

    def __init__(self, app, settings: ServeSettings, metrics: prometheus.Metrics) -> None:
        self.app, self.settings, self.metrics = app, settings, metrics

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, status = time.perf_counter(), 500
        scope["visiontk.deadline"] = asyncio.get_running_loop().time() + self.settings.timeout

        async def observed_send(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            problem = self._refusal(scope)
            if problem is not None:
                scope["visiontk.error_kind"] = problem.kind
                await problem_response(problem)(scope, receive, observed_send)
            else:
                await self.app(scope, receive, observed_send)
        finally:
            route = scope.get("route")
            kind = scope.get("visiontk.error_kind") or (f"http_{status}" if status >= 400 else None)
            self.metrics.observe(getattr(route, "path", "other"), status, time.perf_counter() - started, kind)

    def _refusal(self, scope) -> HTTPProblem | None:
        token = self.settings.token
        if token is None or not scope["path"].startswith(PROTECTED):
            return None
        header = dict(scope["headers"]).get(b"authorization", b"")
        if not header:
            return HTTPProblem(401, "unauthorized", "this server needs a token: send the header "
                               "'Authorization: Bearer TOKEN'", 2, {"WWW-Authenticate": "Bearer"})
        scheme, _, given = header.partition(b" ")
        # Constant time: how much of a guess was right must not show in how long the refusal takes.
        if scheme.lower() != b"bearer" or not hmac.compare_digest(given.strip(), token.encode()):
            return HTTPProblem(403, "forbidden", "wrong token", 2)
        return None


def problem_response(problem: HTTPProblem) -> JSONResponse:
    return JSONResponse(problem.body(), problem.status, problem.headers)


def create_app(settings: ServeSettings, served: ServedModels | None = None) -> FastAPI:
    """The app; `served` (already loaded) or the models of `settings`, loaded before the first request."""
    settings = settings.checked()
    served = served or ServedModels(settings)
    runner = Runner(settings.workers, settings.queue)
    metrics = prometheus.Metrics({
        "visiontk_queue_depth": ("Requests waiting for a worker.", lambda: runner.waiting),
        "visiontk_in_flight": ("Requests a worker is on.", lambda: runner.running),
        "visiontk_ready": ("1 once the models are loaded.", lambda: int(served.ready)),
        "visiontk_face_embedding_calls": ("Batched face-embedding network calls.",
                                          lambda: served.embedding_counts()[0]),
        "visiontk_face_embeddings": ("Faces embedded by those calls.", lambda: served.embedding_counts()[1]),
    })

    async def lifespan(app: FastAPI):
        if not served.ready:
            await asyncio.get_running_loop().run_in_executor(None, served.load)
        yield
        runner.close()

    app = FastAPI(title="visiontk", version=__version__, lifespan=lifespan,
                  description="Face detection, verification and identification, super-resolution, style "
                              "transfer and GAN sampling over HTTP. Send `Authorization: Bearer TOKEN` when "
                              "the server was started with a token.",
                  dependencies=[Depends(HTTPBearer(auto_error=False))])   # shows the token in /docs
    app.state.served, app.state.runner, app.state.metrics = served, runner, metrics
    # The last added runs first: CORS answers a browser's preflight (which carries no token) and marks
    # refusals too, so that a page of an allowed origin can read them.
    app.add_middleware(UploadLimits, max_bytes=settings.max_upload_bytes, seconds=settings.upload_timeout)
    app.add_middleware(Gate, settings=settings, metrics=metrics)
    if settings.cors:
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors), allow_methods=["GET", "POST"],
                           allow_headers=["Authorization"], expose_headers=["X-Visiontk-Record"])
    _add_error_handlers(app)
    _add_service_routes(app, served, metrics)
    for add_routes in (_add_face_routes, _add_gallery_routes, _add_sr_routes, _add_picture_routes):
        add_routes(app, settings, served, runner)
    return app


# ---- errors ---------------------------------------------------------------------------------------------

def _add_error_handlers(app: FastAPI) -> None:
    def answer(request: Request, problem: HTTPProblem) -> JSONResponse:
        request.scope["visiontk.error_kind"] = problem.kind
        return problem_response(problem)

    @app.exception_handler(HTTPProblem)
    async def on_problem(request: Request, exc: HTTPProblem):
        return answer(request, exc)

    @app.exception_handler(VisiontkError)
    async def on_visiontk_error(request: Request, exc: VisiontkError):
        return answer(request, from_visiontk_error(exc))

    @app.exception_handler(RequestValidationError)
    async def on_bad_parameters(request: Request, exc: RequestValidationError):
        return answer(request, bad_parameters("; ".join(_describe_validation(e) for e in exc.errors())))

    @app.exception_handler(HTTPException)
    async def on_http_error(request: Request, exc: HTTPException):   # unknown path, wrong method...
        kind = {400: "bad_input", 404: "not_found", 405: "method_not_allowed"}.get(exc.status_code,
                                                                                 f"http_{exc.status_code}")
        exit_code = BadInputError.exit_code if exc.status_code == 400 else 2
        return answer(request, HTTPProblem(exc.status_code, kind, str(exc.detail), exit_code, exc.headers))

    @app.exception_handler(Exception)
    async def on_bug(request: Request, exc: Exception):
        if isinstance(exc, MemoryError) or type(exc).__name__ == "ResourceExhaustedError":
            return answer(request, too_large("not enough memory for this request; send a smaller image"))
        log.exception("internal error on %s", request.url.path)   # the details stay in the server's log
        return answer(request, internal())


def _describe_validation(error: dict) -> str:
    where = ".".join(str(part) for part in error.get("loc", ())[1:]) or "request"
    if error.get("type") == "missing":
        return f"{where}: missing (a required form field; see /docs for the names)"
    return f"{where}: {error.get('msg', 'invalid')}"


# ---- service --------------------------------------------------------------------------------------------

def _add_service_routes(app: FastAPI, served: ServedModels, metrics: prometheus.Metrics) -> None:
    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(str(STATIC / "index.html"), headers=_page_headers())

    @app.get("/app.js", include_in_schema=False)
    async def script():
        return FileResponse(str(STATIC / "app.js"), media_type="text/javascript", headers=_page_headers())

    @app.get("/healthz", summary="The process answers")
    async def healthz():
        return {"ok": True, "version": __version__}

    @app.get("/readyz", summary="The models are loaded")
    async def readyz():
        body = {"ok": served.ready, "models": list(served.settings.models)}
        if served.ready:
            return body
        return JSONResponse(body, 503, {"Retry-After": "5"})

    @app.get("/metrics", summary="Prometheus metrics")
    async def metrics_text():
        return PlainTextResponse(metrics.text(), media_type=prometheus.CONTENT_TYPE)

    @app.get("/v1/models", summary="What this server serves")
    async def models():
        return {"ok": True, "models": served.describe()}


def _page_headers() -> dict:
    return {"Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; style-src 'self' "
                                       "'unsafe-inline'", "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer"}


# ---- running work ---------------------------------------------------------------------------------------

async def _uploaded(upload: UploadFile, field: str) -> tuple[bytes, str]:
    return await upload.read(), upload_label(field, upload.filename)


def _decoder(settings: ServeSettings) -> Callable[[bytes, str], Picture]:
    return lambda data, label: read_upload(data, label, settings.max_pixels, settings.max_frames)


async def _run(request: Request, served: ServedModels, runner: Runner, work: Callable[[], dict | Response]):
    if not served.ready:
        raise HTTPProblem(503, "loading", "the models are still loading; retry shortly", EXIT_TEMPORARY,
                          {"Retry-After": "5"})
    return await runner.run(work, request.scope["visiontk.deadline"])


def _record(label: str | None, record: dict) -> dict:
    return {"input": label, "ok": True, **record}


def _json(record: dict) -> Response:
    return Response(json_line(record), media_type="application/json")


def _encode(image: np.ndarray | Picture | Image.Image, fmt: str) -> bytes:
    """The image file's bytes, written by imageio.write_image as the CLI writes its outputs."""
    name, _, extension = IMAGE_FORMATS[fmt]
    with tempfile.TemporaryDirectory(prefix="visiontk-result-") as folder:
        return write_image(Path(folder) / f"result{extension}", image).read_bytes()


def _image_answer(request: Request, record: dict, data: bytes, fmt: str) -> Response:
    """The image, its record in a header; or, when the client accepts JSON, the record with the image."""
    media_type = IMAGE_FORMATS[fmt][1]
    if "application/json" in request.headers.get("accept", ""):
        return _json({**record, "image": f"data:{media_type};base64,{base64.b64encode(data).decode()}"})
    header = json.dumps(json.loads(json_line(record)), ensure_ascii=True)   # headers are ASCII
    return Response(data, media_type=media_type, headers={"X-Visiontk-Record": header})


def _data_url(image: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(_encode(image, "png")).decode()


# ---- face -----------------------------------------------------------------------------------------------

def _add_face_routes(app: FastAPI, settings: ServeSettings, served: ServedModels, runner: Runner) -> None:
    decode = _decoder(settings)

    @app.post("/v1/face/detect", summary="Find faces: boxes, confidences, landmarks (as `face detect`)")
    async def detect(request: Request, image: Upload, min_confidence: MinConfidence = DEFAULT_MIN_CONFIDENCE,
                     min_face: MinFace = DEFAULT_MIN_FACE,
                     draw: Annotated[bool, Form(description="Add the image with the faces drawn.")] = False):
        served.need("face")
        data, label = await _uploaded(image, "image")

        def work() -> Response:
            from visiontk.face import detect_faces
            from visiontk.face.draw import draw_faces

            rgb = decode(data, label).rgb
            faces = detect_faces(rgb, min_confidence=min_confidence, min_face=min_face)
            record = {"faces": [face.to_dict() for face in faces]}
            if draw:
                record["image"] = _data_url(draw_faces(rgb, faces))
            return _json(_record(label, record))
        return await _run(request, served, runner, work)

    @app.post("/v1/face/verify", summary="Are two photos the same person? (as `face verify`)")
    async def verify(request: Request, a: Upload, b: Upload, max_distance: MaxDistance = None,
                     face_index: FaceIndex = 0, min_confidence: MinConfidence = DEFAULT_MIN_CONFIDENCE,
                     min_face: MinFace = DEFAULT_MIN_FACE):
        served.need("face")
        (data_a, label_a), (data_b, label_b) = await _uploaded(a, "a"), await _uploaded(b, "b")

        def work() -> Response:
            from visiontk.face import verify as verify_faces

            result = verify_faces(decode(data_a, label_a).rgb, decode(data_b, label_b).rgb, model=served.face,
                                  max_distance=max_distance, face_index=face_index, min_face=min_face,
                                  min_confidence=min_confidence, sources=(label_a, label_b))
            return _json(_record(None, {"a": label_a, "b": label_b, **result.to_dict()}))
        return await _run(request, served, runner, work)

    @app.post("/v1/face/embed", summary="Face embeddings (as `face embed --json`)")
    async def embed(request: Request, image: Upload, face_index: FaceIndex = 0,
                    all_faces: Annotated[bool, Form(description="Every face, not only one.")] = False,
                    min_confidence: MinConfidence = DEFAULT_MIN_CONFIDENCE,
                    min_face: MinFace = DEFAULT_MIN_FACE):
        served.need("face")
        data, label = await _uploaded(image, "image")

        def work() -> Response:
            from visiontk.face import embed as embed_face
            from visiontk.face import embed_faces

            rgb, options = decode(data, label).rgb, {"min_confidence": min_confidence, "min_face": min_face}
            if all_faces:
                items = list(enumerate(embed_faces(rgb, model=served.face, **options)))
                if not items:
                    from visiontk.errors import NoFaceError
                    raise NoFaceError(f"{label}: no face found")
            else:
                items = [(face_index, embed_face(rgb, face_index=face_index, model=served.face, source=label,
                                                 **options))]
            return _json(_record(label, {"faces": [item.to_dict(index) for index, item in items]}))
        return await _run(request, served, runner, work)


def _add_gallery_routes(app: FastAPI, settings: ServeSettings, served: ServedModels, runner: Runner) -> None:
    decode = _decoder(settings)

    @app.post("/v1/face/identify", summary="Name every face from the served gallery (as `face identify`)")
    async def identify(request: Request, image: Upload, max_distance: MaxDistance = None,
                       min_confidence: MinConfidence = DEFAULT_MIN_CONFIDENCE,
                       min_face: MinFace = DEFAULT_MIN_FACE):
        _need_gallery(served)
        data, label = await _uploaded(image, "image")

        def work() -> Response:
            from visiontk.face import embed_faces

            gallery = served.gallery
            if not len(gallery):
                raise BadInputError("the served gallery is empty (enroll people first)")
            found = embed_faces(decode(data, label).rgb, model=served.face, min_confidence=min_confidence,
                                min_face=min_face)
            distance = served.face.max_distance if max_distance is None else max_distance
            matches = gallery.identify_many(np.array([f.embedding for f in found]), distance) if found else []
            return _json(_record(label, {"faces": [f.match_record(m) for f, m in zip(found, matches)]}))
        return await _run(request, served, runner, work)

    @app.post("/v1/face/enroll", summary="Add a person to the served gallery (needs --allow-enroll)")
    async def enroll(request: Request, name: Annotated[str, Form(min_length=1, max_length=MAX_NAME)],
                     images: Annotated[list[UploadFile], File(description="Photos of the person.")],
                     face_index: FaceIndex = 0, min_confidence: MinConfidence = DEFAULT_MIN_CONFIDENCE,
                     min_face: MinFace = DEFAULT_MIN_FACE):
        _need_gallery(served)
        if not settings.allow_enroll:
            raise HTTPProblem(403, "forbidden", "enrolment is off on this server (start it with "
                              "--allow-enroll)", 2)
        name = name.strip()
        if not name or name == "unknown" or not name.isprintable():
            raise bad_parameters("name: give the person a printable name other than 'unknown'")
        uploads = [await _uploaded(upload, "images") for upload in images]

        def work() -> Response:
            from visiontk.face import embed as embed_face

            found = [(label, embed_face(decode(data, label).rgb, face_index=face_index, model=served.face,
                                        min_confidence=min_confidence, min_face=min_face, source=label))
                     for data, label in uploads]   # all or nothing: a photo without a face adds no one
            total = served.enroll(name, np.array([item.embedding for _, item in found]),
                                  [f"upload:{label}" for label, _ in found])
            enrolled = [{"input": label, "box": [round(v, 1) for v in item.face.box]}
                        for label, item in found]
            return _json(_record(None, {"name": name, "embeddings": total, "enrolled": enrolled}))
        return await _run(request, served, runner, work)


def _need_gallery(served: ServedModels) -> None:
    served.need("face")
    if served.gallery is None:
        raise unknown_model("this server has no gallery (start it with --gallery FILE)")


# ---- images out: sr, style, gan ---------------------------------------------------------------------------

def _add_sr_routes(app: FastAPI, settings: ServeSettings, served: ServedModels, runner: Runner) -> None:
    decode = _decoder(settings)

    @app.post("/v1/sr/upscale", summary="Upscale x2, x3 or x4 with EDSR (as `sr upscale`)")
    async def upscale(request: Request, image: Upload, scale: Scale = None, model: SrModel = None,
                      outscale: Annotated[float | None, Form(ge=1, le=4)] = None,
                      width: Annotated[int | None, Form(ge=1, le=100_000)] = None,
                      height: Annotated[int | None, Form(ge=1, le=100_000)] = None,
                      output: OutputFormat = "png"):
        from visiontk.sr.upscale import default_model, output_size, resolve_scale, upscale_record

        served.need("sr")
        if outscale is not None and (width or height):
            raise bad_parameters("give outscale or width/height, not both")
        name = model or default_model(scale or resolve_scale(None, None, outscale))
        upscaler = served.pick("sr", served.upscalers, name)
        if scale is not None and scale != upscaler.scale:
            raise bad_parameters(f"model {name} upscales x{upscaler.scale}, not x{scale}")
        data, label = await _uploaded(image, "image")

        def work() -> Response:
            picture = decode(data, label)
            size = output_size(*picture.size, upscaler.scale, outscale, width, height)
            if size[0] * size[1] > settings.max_pixels:
                raise too_large(f"{label}: the result would be {size[0]}x{size[1]} pixels, over the server's "
                                f"limit of {settings.max_pixels} (--max-pixels)")
            result = upscaler.upscale_picture(picture, size)
            encoded = _encode(result, output)
            bits = 16 if result.deep is not None and output == "png" else 8
            record = {"model": name, **upscale_record(upscaler, picture.size, size, bits)}
            return _image_answer(request, _record(label, record), encoded, output)
        return await _run(request, served, runner, work)


def _add_picture_routes(app: FastAPI, settings: ServeSettings, served: ServedModels, runner: Runner) -> None:
    """Paintings and samples: style networks and the DCGAN."""
    decode = _decoder(settings)

    @app.post("/v1/style/stylize", summary="Paint a photo with a style network (as `stylize --model`)")
    async def stylize(request: Request, image: Upload, model: StyleModel = "starry-night",
                      size: StyleSize = 512,
                      preserve_color: Annotated[bool, Form()] = False,
                      strength: Annotated[float, Form(ge=0, le=1, description="1 paints fully, 0 leaves the "
                                                                               "photo.")] = 1.0,
                      output: OutputFormat = "jpeg"):
        stylizer = served.pick("style", served.stylizers, model)
        if size * size > settings.max_pixels:
            raise too_large(f"size {size}: a result that large is over the server's limit (--max-pixels)")
        data, label = await _uploaded(image, "image")

        def work() -> Response:
            started = time.perf_counter()
            painted = stylizer(decode(data, label).rgb, size=size, preserve_color=preserve_color,
                               strength=strength)
            # The record of `stylize --model --json`, less its output file.
            record = {"model": model, "precision": stylizer.precision, "strength": strength,
                      "width": painted.shape[1], "height": painted.shape[0],
                      "seconds": round(time.perf_counter() - started, 3)}
            return _image_answer(request, _record(label, record), _encode(painted, output), output)
        return await _run(request, served, runner, work)

    @app.post("/v1/gan/generate", summary="Sample a sheet of images from a DCGAN (as `gan generate`)")
    async def generate(request: Request, model: Generator = "dcgan-fashion-mnist",
                       n: Annotated[int, Form(ge=1, le=256)] = 16, seed: Seed = None,
                       scale: Annotated[int, Form(ge=1, le=8)] = 2, output: OutputFormat = "png"):
        from visiontk.charts import grid
        from visiontk.gan.generate import sample
        from visiontk.gan.pictures import sheet_pictures

        generator = served.pick("gan", served.generators, model)

        def work() -> Response:
            images, record = sample(generator, n, seed)
            picture, mask = sheet_pictures(grid(images, scale=scale))
            if mask is not None:
                picture.putalpha(mask)
            return _image_answer(request, _record(model, record), _encode(picture, output), output)
        return await _run(request, served, runner, work)
