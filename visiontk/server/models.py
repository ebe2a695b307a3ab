"""The networks a server holds: each loaded once at start, warmed up, then shared by every request."""
from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np

from visiontk.server.problems import unknown_model
from visiontk.server.settings import ServeSettings

log = logging.getLogger("visiontk.server")


class ServedModels:
    """What `--models` asked for. `ready` turns true once every network has answered a first input."""

    def __init__(self, settings: ServeSettings) -> None:
        self.settings = settings
        self.face = None                 # visiontk.face.FaceModel
        self.gallery = None              # visiontk.face.Gallery, replaced whole by each enrolment
        self.upscalers: dict = {}        # name -> visiontk.sr.Upscaler
        self.stylizers: dict = {}        # name -> visiontk.style.FastStylizer
        self.generators: dict = {}       # name -> visiontk.gan.generate.Generator
        self.ready = False
        self._enrolling = threading.Lock()

    def load(self) -> "ServedModels":
        for task in self.settings.models:
            log.info("loading %s models", task)
            getattr(self, f"_load_{task}")()
        self.ready = True
        return self

    def _load_face(self) -> None:
        from visiontk.face import Gallery, detect_faces, load_model
        from visiontk.server.batching import BatchedFaceModel, EmbeddingBatcher

        self.face = load_model()
        detect_faces(np.zeros((64, 64, 3), np.uint8))          # builds MTCNN's three networks
        self.face.embed_chips(np.zeros((1, 150, 150, 3), np.float32))
        if self.settings.batch_wait > 0:
            self.face = BatchedFaceModel(self.face, EmbeddingBatcher(self.face, self.settings.batch_wait))
        if self.settings.gallery is not None:
            self.gallery = Gallery.load(self.settings.gallery, model=self.face.name)

    def _load_sr(self) -> None:
        from visiontk.sr.catalog import SHIPPED
        from visiontk.sr.upscale import Upscaler, resolve_scale

        for name in SHIPPED:
            upscaler = Upscaler(resolve_scale(None, name), name)
            upscaler.predict(np.zeros((8, 8, 3), np.float32))
            self.upscalers[name] = upscaler

    def _load_style(self) -> None:
        from visiontk.style import FastStylizer
        from visiontk.style.model import STYLE_MODELS

        for source in self.settings.styles or STYLE_MODELS:
            stylizer = FastStylizer(source)
            stylizer.paint(np.zeros((16, 16, 3), np.uint8))
            self.stylizers[Path(source).name.removesuffix(".weights.h5")] = stylizer

    def _load_gan(self) -> None:
        from visiontk.gan import load_model
        from visiontk.gan.generate import sample
        from visiontk.gan.model import SHIPPED

        for name in SHIPPED:
            self.generators[name] = load_model(name)
            sample(self.generators[name], 1, seed=0)

    # ---- lookup -------------------------------------------------------------------------------------

    def embedding_counts(self) -> tuple[int, int]:
        """(face-embedding network calls, faces embedded by them) since the start, when batching."""
        batcher = getattr(self.face, "batcher", None)
        return (batcher.calls, batcher.chips) if batcher is not None else (0, 0)

    def need(self, task: str) -> None:
        if task not in self.settings.models:
            raise unknown_model(f"this server does not serve the {task} models (started with --models "
                                f"{','.join(self.settings.models)})")

    def pick(self, task: str, table: dict, name: str):
        self.need(task)
        if name not in table:
            raise unknown_model(f"no {task} model {name!r} here; served: {', '.join(table)}")
        return table[name]

    def enroll(self, name: str, embeddings: np.ndarray, sources: list[str]) -> int:
        """Add embeddings of `name` to the served gallery file (under its lock, so a CLI enrolling at the
        same time loses nothing) and serve the result; the number of embeddings it now has of `name`."""
        from visiontk.face import Gallery

        with self._enrolling, Gallery.update(self.settings.gallery, model=self.face.name) as gallery:
            gallery.add_many([name] * len(embeddings), embeddings, sources)
        self.gallery = gallery
        return gallery.people()[name]

    def describe(self) -> dict:
        """GET /v1/models: what each served task offers."""
        found: dict = {}
        if self.face is not None:
            found["face"] = {"model": self.face.name, "max_distance": self.face.max_distance,
                             "gallery": None if self.gallery is None else
                             {"people": len(self.gallery.people()), "embeddings": len(self.gallery),
                              "enroll": self.settings.allow_enroll}}
        if self.upscalers:
            found["sr"] = {name: {"scale": upscaler.scale, "precision": upscaler.precision}
                           for name, upscaler in self.upscalers.items()}
        if self.stylizers:
            found["style"] = {name: {"precision": s.precision} for name, s in self.stylizers.items()}
        if self.generators:
            found["gan"] = {name: {"shape": [g.config["image_size"], g.config["image_size"], g.channels],
                                   "latent_dim": g.latent_dim} for name, g in self.generators.items()}
        return found
