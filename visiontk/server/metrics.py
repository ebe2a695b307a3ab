"""Counters for /metrics, written in the Prometheus text exposition format (version 0.0.4).

A dozen lines of text need no client library: requests by endpoint and status, latency histograms by
endpoint, errors by kind, and the queue's depth and the requests being worked on (read at scrape time).
"""
from __future__ import annotations

import threading
from collections import defaultdict
from typing import Callable

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Metrics:
    def __init__(self, gauges: dict[str, tuple[str, Callable[[], float]]] | None = None) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, int], int] = defaultdict(int)
        self.errors: dict[str, int] = defaultdict(int)
        self.latency: dict[str, list[int]] = defaultdict(lambda: [0] * (len(BUCKETS) + 1))
        self.latency_sum: dict[str, float] = defaultdict(float)
        self.gauges = gauges or {}   # name -> (help, read)

    def observe(self, endpoint: str, status: int, seconds: float, error_kind: str | None = None) -> None:
        with self._lock:
            self.requests[endpoint, status] += 1
            counts = self.latency[endpoint]
            counts[next((i for i, top in enumerate(BUCKETS) if seconds <= top), len(BUCKETS))] += 1
            self.latency_sum[endpoint] += seconds
            if error_kind:
                self.errors[error_kind] += 1

    def text(self) -> str:
        with self._lock:
            lines = ["# HELP visiontk_requests_total HTTP requests answered, by endpoint and status.",
                     "# TYPE visiontk_requests_total counter"]
            lines += [f'visiontk_requests_total{{endpoint="{e}",status="{s}"}} {n}'
                      for (e, s), n in sorted(self.requests.items())]
            lines += ["# HELP visiontk_request_seconds Time from request to answer, by endpoint.",
                      "# TYPE visiontk_request_seconds histogram"]
            for endpoint, counts in sorted(self.latency.items()):
                running = 0
                for top, count in zip([*map(str, BUCKETS), "+Inf"], counts):
                    running += count
                    lines.append(f'visiontk_request_seconds_bucket{{endpoint="{endpoint}",le="{top}"}} '
                                 f"{running}")
                lines.append(f'visiontk_request_seconds_sum{{endpoint="{endpoint}"}} '
                             f"{self.latency_sum[endpoint]:.6f}")
                lines.append(f'visiontk_request_seconds_count{{endpoint="{endpoint}"}} {running}')
            lines += ["# HELP visiontk_errors_total Requests refused or failed, by error kind.",
                      "# TYPE visiontk_errors_total counter"]
            lines += [f'visiontk_errors_total{{kind="{k}"}} {n}' for k, n in sorted(self.errors.items())]
        for name, (help_text, read) in self.gauges.items():
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name} {read()}"]
        return "\n".join(lines) + "\n"
