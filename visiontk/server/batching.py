"""Face embeddings of requests that arrive together, computed in one network call.

Embedding 8 chips at once takes 150 ms on two CPU cores where 8 calls of one take 250 ms: the
network's per-call cost is shared. Worker threads hand their chips to one batching thread, which
waits `wait` seconds for others to arrive, embeds them all in one call and hands each its rows back.
"""
from __future__ import annotations

import queue
import threading
from concurrent.futures import Future

import numpy as np

from visiontk.face.align import CHIP_SIZE
from visiontk.face.model import FaceModel


class EmbeddingBatcher:
    def __init__(self, model: FaceModel, wait: float = 0.005, max_chips: int = 32) -> None:
        self.model, self.wait, self.max_chips = model, wait, max_chips
        self.calls = self.chips = 0      # network calls made and chips embedded, for the metrics
        self._pending: queue.Queue = queue.Queue()
        threading.Thread(target=self._serve, name="visiontk-embed-batcher", daemon=True).start()

    def embed(self, chips: np.ndarray) -> np.ndarray:
        """(N, CHIP_SIZE, CHIP_SIZE, 3) chips -> (N, D) embeddings, in one call with other threads' chips."""
        if len(chips) == 0:
            return self.model.embed_chips(chips)
        answer: Future = Future()
        self._pending.put((chips, answer))
        return answer.result()

    def _serve(self) -> None:
        while True:
            batch = [self._pending.get()]
            count = len(batch[0][0])
            try:
                while count < self.max_chips:
                    batch.append(self._pending.get(timeout=self.wait))
                    count += len(batch[-1][0])
            except queue.Empty:
                pass
            self._answer(batch)

    def _answer(self, batch: list[tuple[np.ndarray, Future]]) -> None:
        try:
            embeddings = self.model.embed_chips(np.concatenate([chips for chips, _ in batch]))
        except BaseException as exc:   # each request gets the error, as if it had called alone
            for _, answer in batch:
                answer.set_exception(exc)
            return
        self.calls, self.chips = self.calls + 1, self.chips + len(embeddings)
        start = 0
        for chips, answer in batch:
            answer.set_result(embeddings[start:start + len(chips)])
            start += len(chips)


class BatchedFaceModel(FaceModel):
    """A FaceModel whose embed_chips goes through an EmbeddingBatcher (the face API takes it as any other)."""

    def __init__(self, model: FaceModel, batcher: EmbeddingBatcher) -> None:
        super().__init__(model.name, model.network, model.max_distance)
        self.batcher = batcher

    def embed_chips(self, chips) -> np.ndarray:
        return self.batcher.embed(np.asarray(chips, dtype=np.float32).reshape(-1, CHIP_SIZE, CHIP_SIZE, 3))
