"""`visiontk serve`: the models behind an HTTP API and a web page (visiontk.server)."""
from __future__ import annotations

import contextlib
import signal
from pathlib import Path

import click

from visiontk.cli.common import (NON_NEGATIVE_FLOAT, NON_NEGATIVE_INT, POSITIVE_FLOAT, POSITIVE_INT,
                                 bounded_int)

TASKS = "face,sr,style,gan"


def _task_list(ctx, param, value: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in value.split(",") if name.strip())


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but loopback needs a token.")
@click.option("--port", type=bounded_int(0, 65535), default=8000, show_default=True)
@click.option("--models", default=TASKS, show_default=True, callback=_task_list,
              help="Tasks to serve (comma-separated): face, sr, style, gan.")
@click.option("--gallery", type=click.Path(dir_okay=False, path_type=Path),
              help="The gallery (.npz or .json) that /v1/face/identify names people from.")
@click.option("--allow-enroll", is_flag=True, help="Let clients add people to --gallery (/v1/face/enroll).")
@click.option("--style", "styles", multiple=True, metavar="NAME|FILE",
              help="A style network to serve: shipped name or .weights.h5 from `stylize export` "
                   "(repeatable) [default: every shipped style].")
@click.option("--token", envvar="VISIONTK_TOKEN", show_envvar=True,
              help="Clients must send 'Authorization: Bearer TOKEN' (required off loopback).")
@click.option("--workers", type=bounded_int(1, 64), default=2, show_default=True,
              help="Requests worked on at once (threads sharing one copy of the models).")
@click.option("--queue", type=NON_NEGATIVE_INT, default=16, show_default=True,
              help="Requests that may wait for a worker; more are answered 503 with Retry-After.")
@click.option("--timeout", type=POSITIVE_FLOAT, default=60.0, show_default=True,
              help="Seconds a request may take from its arrival to its answer (504 beyond).")
@click.option("--upload-timeout", type=POSITIVE_FLOAT, default=30.0, show_default=True,
              help="Seconds a request's body may take to arrive (408 beyond): a slow client holds no "
                   "connection for longer.")
@click.option("--max-upload-mb", type=POSITIVE_FLOAT, default=20.0, show_default=True,
              help="Largest request body (413 beyond).")
@click.option("--max-pixels", type=POSITIVE_INT, default=16_000_000, show_default=True,
              help="Largest input image, and upscaled result, in pixels (413 beyond; read from the header "
                   "before decoding).")
@click.option("--max-frames", type=POSITIVE_INT, default=100, show_default=True,
              help="Most frames of an animated input (only the first is used).")
@click.option("--batch-wait-ms", type=NON_NEGATIVE_FLOAT, default=5.0, show_default=True,
              help="Face embeddings of requests arriving within this many milliseconds share one network "
                   "call (0: each alone).")
@click.option("--cors", multiple=True, metavar="ORIGIN",
              help="Let web pages from ORIGIN call the API (repeatable; default: none).")
def command(host, port, models, gallery, allow_enroll, styles, token, workers, queue, timeout, upload_timeout,
            max_upload_mb, max_pixels, max_frames, batch_wait_ms, cors) -> int:
    """Serve the models over HTTP: a JSON API under /v1/, a web page at /, the API's docs at /docs.

    Listens on loopback only unless --host says otherwise, and then only with a token. Models load
    once, before the server listens; SIGTERM or Ctrl-C finishes the requests in flight, then exits 0.

    \b
      visiontk serve                                   # http://127.0.0.1:8000/
      visiontk serve --models face --gallery people.npz
      VISIONTK_TOKEN=$(openssl rand -hex 16) visiontk serve --host 0.0.0.0
    """
    from visiontk.errors import UsageError
    from visiontk.server import ServeSettings

    settings = ServeSettings(host=host, port=port, models=models, gallery=gallery, allow_enroll=allow_enroll,
                             token=token, workers=workers, queue=queue, timeout=timeout,
                             upload_timeout=upload_timeout, max_upload_mb=max_upload_mb,
                             max_pixels=max_pixels, max_frames=max_frames, batch_wait=batch_wait_ms / 1000,
                             cors=tuple(cors), styles=tuple(styles)).checked()
    try:
        import uvicorn

        from visiontk.server.app import create_app
    except ModuleNotFoundError as exc:
        raise UsageError(f"visiontk serve needs the serve extra ({exc.name} is missing): "
                         "pip install 'visiontk[serve]'") from None
    from visiontk.server.models import ServedModels

    served = ServedModels(settings).load()   # a missing weights file is exit 4 here, before listening
    click.echo(f"visiontk: serving {','.join(models)} on http://{host}:{port}/ "
               f"({'token required' if token else 'no token'}; Ctrl-C to stop)", err=True)
    server = uvicorn.Server(uvicorn.Config(create_app(settings, served), host=host, port=port,
                                           log_level="warning", timeout_graceful_shutdown=timeout,
                                           server_header=False))
    with _stop_is_success():
        server.run()
    return 0


@contextlib.contextmanager
def _stop_is_success():
    """uvicorn answers SIGTERM and Ctrl-C by draining the requests in flight, then raises the signal
    again for the handler it found. A drained server has done its job: that handler does nothing here,
    so the command exits 0 instead of 130 (visiontk.interrupt's answer to a stopped command)."""
    quiet = {number: signal.signal(number, lambda *_: None) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in quiet.items():
            signal.signal(number, handler)
