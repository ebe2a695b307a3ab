"""Benchmark of `visiontk serve` on loopback: 8 clients sending a mix of real requests for 60 s (status
counts, p50/p95 latency, throughput), the same work as sequential CLI calls, and the server's memory
after 100 and after 1,000 requests. Prints a Markdown table and one JSON line; asserts nothing.
tests/test_serve.py imports this file for its server, photos and load (a shorter run).

    nice python benchmarks/serve_bench.py                      # 8 clients x 60 s, 2 CLI rounds, memory
    nice python benchmarks/serve_bench.py --seconds 20 --cli-rounds 1 --no-memory
"""
from __future__ import annotations

import argparse
import io
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VISIONTK_SHARED", ROOT.parent / "shared"))
TOKEN = "bench-token-0123456789abcdef"


# ---- inputs ---------------------------------------------------------------------------------------------

def jpeg(path: Path, long_side: int) -> bytes:
    """A photo shrunk to `long_side` pixels, as JPEG bytes (what a phone app might upload)."""
    from PIL import Image

    image = Image.open(path).convert("RGB")
    image.thumbnail((long_side, long_side), Image.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


def photos(shared: Path = SHARED) -> dict[str, bytes]:
    faces = shared / "data" / "faces"
    found = {name: jpeg(faces / f"{name}.jpg", 400) for name in ("obama_1", "obama_2", "biden_1")}
    found["group"] = jpeg(faces / "group_obama_and_biden.jpg", 800)
    found["chelsea"] = jpeg(shared / "data" / "content" / "chelsea.png", 160)
    found["tiny"] = jpeg(shared / "data" / "sr" / "Set5" / "baby.png", 24)
    return found


def mix(photos: dict[str, bytes]) -> list[tuple[str, dict, dict]]:
    """The mixed requests, in turn: face verify, face detect, sr upscale x4, stylize."""
    return [
        ("/v1/face/verify", {"a": ("a.jpg", photos["obama_1"]), "b": ("b.jpg", photos["obama_2"])}, {}),
        ("/v1/face/detect", {"image": ("g.jpg", photos["group"])}, {}),
        ("/v1/sr/upscale", {"image": ("t.jpg", photos["tiny"])}, {"scale": "4"}),
        ("/v1/style/stylize", {"image": ("c.jpg", photos["chelsea"])}, {"size": "160"}),
    ]


# ---- the server -----------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """`visiontk serve OPTIONS` in a subprocess on a free loopback port, with TOKEN; output to `log`."""

    def __init__(self, options: list[str], log: Path, token: str = TOKEN) -> None:
        self.port, self.log, self.token = free_port(), log, token
        self.url = f"http://127.0.0.1:{self.port}"
        environment = {**os.environ, "VISIONTK_TOKEN": token}
        environment.setdefault("VISIONTK_MODELS", str(SHARED / "weights"))
        with open(log, "wb") as output:
            command = [sys.executable, "-m", "visiontk", "serve", "--port", str(self.port), *options]
            self.process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=environment)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def wait_ready(self, seconds: float = 300) -> "Server":
        import httpx

        started = time.monotonic()
        while time.monotonic() - started < seconds:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server stopped (exit {self.process.returncode}): {self.tail()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"the server did not come up in {seconds:g} s: {self.tail()}")

    def client(self, **options):
        import httpx

        return httpx.Client(base_url=self.url, headers=self.headers, timeout=120, **options)

    def rss_mb(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-2000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


# ---- load -----------------------------------------------------------------------------------------------

def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))] if ordered else float("nan")


def in_parallel(clients: int, work) -> float:
    """`work(index)` on `clients` threads at once; the seconds until all are done."""
    started = time.perf_counter()
    threads = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def mixed_load(server: Server, requests: list[tuple[str, dict, dict]], clients: int, seconds: float) -> dict:
    """`clients` threads sending `requests` in turn for `seconds`: status counts, p50/p95, throughput."""
    statuses: dict[int, int] = {}
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(index: int) -> None:
        with server.client() as session:
            turn = index
            while time.monotonic() < stop:
                path, files, data = requests[turn % len(requests)]
                started = time.perf_counter()
                status = session.post(path, files=files, data=data).status_code
                with lock:
                    statuses[status] = statuses.get(status, 0) + 1
                    latencies.append(time.perf_counter() - started)
                turn += 1

    elapsed = in_parallel(clients, client)
    return {"clients": clients, "statuses": statuses, **timing(latencies, elapsed)}


def timing(latencies: list[float], elapsed: float) -> dict:
    return {"requests": len(latencies), "seconds": round(elapsed, 1),
            "p50_s": round(percentile(latencies, 0.5), 3), "p95_s": round(percentile(latencies, 0.95), 3),
            "requests_per_s": round(len(latencies) / elapsed, 2)}


def light_requests(server: Server, photos: dict[str, bytes], count: int, clients: int = 8) -> None:
    """`count` cheap real requests (sr x2 of a 24-pixel photo; face embed of it, which finds no face)."""
    def client(index: int) -> None:
        with server.client() as session:
            for i in range(index, count, clients):
                if i % 2:
                    answer = session.post("/v1/sr/upscale", files={"image": photos["tiny"]},
                                          data={"scale": "2"})
                else:
                    answer = session.post("/v1/face/embed", files={"image": photos["tiny"]})
                if answer.status_code not in (200, 400):
                    raise RuntimeError(f"{answer.status_code}: {answer.text}")
    in_parallel(clients, client)


def memory(server: Server, photos: dict[str, bytes]) -> dict:
    """The server's resident memory after 100 requests and after 1,000 (a leak grows the second)."""
    light_requests(server, photos, 100)
    after_100 = server.rss_mb()
    light_requests(server, photos, 900)
    after_1000 = server.rss_mb()
    return {"rss_after_100_mb": round(after_100), "rss_after_1000_mb": round(after_1000),
            "growth": round(after_1000 / after_100 - 1, 4)}


# ---- the same work from the command line ----------------------------------------------------------------

def sequential_cli(photos: dict[str, bytes], rounds: int) -> dict:
    """The mix as `visiontk` commands run one after another (each pays start-up and model loading)."""
    with tempfile.TemporaryDirectory() as folder:
        here = Path(folder)
        for name in ("obama_1", "obama_2", "group", "tiny", "chelsea"):
            (here / f"{name}.jpg").write_bytes(photos[name])
        commands = [["face", "verify", "obama_1.jpg", "obama_2.jpg", "--json"],
                    ["face", "detect", "group.jpg", "--json"],
                    ["sr", "upscale", "tiny.jpg", "--scale", "4", "-o", "big.png", "--overwrite", "--json"],
                    ["stylize", "chelsea.jpg", "--model", "starry-night", "--size", "160",
                     "-o", "painted.jpg", "--overwrite", "--json"]]
        latencies = []
        started = time.perf_counter()
        failed = 0
        for _ in range(rounds):
            for command in commands:
                began = time.perf_counter()
                failed += subprocess.run([sys.executable, "-m", "visiontk", "-q", *command], cwd=here,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode != 0
                latencies.append(time.perf_counter() - began)
        elapsed = time.perf_counter() - started
    return {**timing(latencies, elapsed), "failed": failed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-wait-ms", type=float, default=5.0, help="The server's --batch-wait-ms.")
    parser.add_argument("--only", help="Send only this endpoint of the mix, e.g. /v1/face/verify.")
    parser.add_argument("--cli-rounds", type=int, default=2, help="Rounds of the four commands (0: none).")
    parser.add_argument("--no-memory", action="store_true", help="Leave out the 1,000-request memory check.")
    args = parser.parse_args()
    pictures = photos()
    with tempfile.TemporaryDirectory() as folder:
        options = ["--models", "face,sr,style", "--workers", str(args.workers), "--batch-wait-ms",
                   str(args.batch_wait_ms)]
        server = Server(options, Path(folder) / "server.log")
        try:
            started = time.perf_counter()
            server.wait_ready()
            result = {"cpus": os.cpu_count(), "workers": args.workers, "batch_wait_ms": args.batch_wait_ms,
                      "only": args.only,
                      "startup_s": round(time.perf_counter() - started, 1),
                      "load": mixed_load(server, [r for r in mix(pictures) if args.only in (None, r[0])],
                                         args.clients, args.seconds)}
            if not args.no_memory:
                result["memory"] = memory(server, pictures)
        finally:
            server.stop()
    print(json.dumps(result), flush=True)   # the server's figures, before the slow CLI part
    if args.cli_rounds:
        result["cli"] = sequential_cli(pictures, args.cli_rounds)
    load = result["load"]
    print(f"server start-up (models loaded): {result['startup_s']} s on {result['cpus']} CPUs\n")
    print("| way | requests | p50 | p95 | requests/s | statuses |\n|---|---|---|---|---|---|")
    print(f"| server, {load['clients']} clients x {load['seconds']} s | {load['requests']} | "
          f"{load['p50_s']} s | {load['p95_s']} s | {load['requests_per_s']} | {load['statuses']} |")
    if "cli" in result:
        cli = result["cli"]
        print(f"| sequential CLI calls | {cli['requests']} | {cli['p50_s']} s | {cli['p95_s']} s | "
              f"{cli['requests_per_s']} | {cli['failed']} failed |")
    if "memory" in result:
        memory_figures = result["memory"]
        print(f"\nserver RSS after 100 requests {memory_figures['rss_after_100_mb']} MB, after 1,000 "
              f"{memory_figures['rss_after_1000_mb']} MB ({memory_figures['growth']:+.1%})")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
