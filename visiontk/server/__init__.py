"""`visiontk serve`: the task models behind an HTTP API (FastAPI on uvicorn) and a small web page.

    from visiontk.server import ServeSettings, create_app

    app = create_app(ServeSettings(models=("face", "sr")))   # an ASGI app: uvicorn, gunicorn, TestClient

Pieces: settings (options and the security rules checked at start), limits (upload size, pixel and frame
counts, checked before decoding), problems (project errors as HTTP answers), metrics (Prometheus text),
runner (a bounded queue in front of the worker threads, with time-outs), models (what loads once and is
shared), app (the routes). Like the CLI, this package is one of the two places that know every task.
Needs the `serve` extra: pip install "visiontk[serve]".
"""
from visiontk.server.settings import ServeSettings


def create_app(settings: ServeSettings, served=None):
    """The ASGI app for `settings` (loads the models unless `served`, a models.ServedModels, is given)."""
    from visiontk.server.app import create_app as create

    return create(settings, served)


__all__ = ["ServeSettings", "create_app"]
