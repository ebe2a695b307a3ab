"""Model work off the event loop: a fixed pool of worker threads behind a bounded queue.

The models are loaded once and shared by the threads (Keras models and tf.functions may be called from
several threads at once). A request that finds `workers + queue` jobs already admitted is refused at
once (503 with Retry-After) instead of waiting without end; one not answered by its deadline gets 504.
Python cannot stop a thread, so a timed-out job keeps its place until its thread is done with it: the
queue never holds more work than it says.
"""
from __future__ import annotations

import asyncio
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from visiontk.server.problems import HTTPProblem

EXIT_TEMPORARY = 75   # EX_TEMPFAIL: try again later


class Runner:
    def __init__(self, workers: int, queue: int) -> None:
        self.workers, self.capacity = workers, workers + queue
        self.admitted = 0           # running or waiting (changed on the event loop only)
        self.running = 0
        self.typical_seconds = 1.0  # a moving average of one job's time, for Retry-After
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="visiontk-model")

    @property
    def waiting(self) -> int:
        return max(0, self.admitted - self.running)

    async def run(self, work: Callable[[], Any], deadline: float) -> Any:
        """`work()` on a worker thread: 503 when the queue is full, 504 if not done by `deadline`
        (in the event loop's clock)."""
        if self.admitted >= self.capacity:
            wait = max(1, math.ceil(self.typical_seconds * self.admitted / self.workers))
            raise HTTPProblem(503, "busy", f"the server is busy ({self.admitted} requests queued or "
                              f"running); retry in {wait} s", EXIT_TEMPORARY, {"Retry-After": str(wait)})
        loop = asyncio.get_running_loop()
        self.admitted += 1
        future = loop.run_in_executor(self._pool, self._timed, work)
        future.add_done_callback(self._release)
        try:
            return await asyncio.wait_for(asyncio.shield(future), max(0.0, deadline - loop.time()))
        except asyncio.TimeoutError:
            raise HTTPProblem(504, "timeout", "the request took longer than the server's time-out; send a "
                              "smaller image or ask for less", EXIT_TEMPORARY) from None

    def _release(self, future: asyncio.Future) -> None:
        self.admitted -= 1
        if not future.cancelled():
            future.exception()   # retrieved: a timed-out job's error is not "never retrieved"

    def _timed(self, work: Callable[[], Any]) -> Any:
        with self._lock:
            self.running += 1
        started = time.perf_counter()
        try:
            return work()
        finally:
            with self._lock:
                self.running -= 1
                self.typical_seconds = 0.8 * self.typical_seconds + 0.2 * (time.perf_counter() - started)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
