"""`visiontk serve`: one real server (a subprocess on loopback, real weights) answering the API, a hostile
battery, a real browser, a short load and a leak check, then SIGTERM; and the pieces (settings, runner,
limits) on their own."""
from __future__ import annotations

import asyncio
import importlib.util
import io
import json
import os
import re
import shutil
import signal
import socket
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")

ROOT = Path(__file__).resolve().parents[1]
UPLOAD_TIMEOUT = 3     # the server's --upload-timeout (the slow-upload test waits this long)
MAX_UPLOAD_MB = 2
MAX_PIXELS = 4_000_000


def _load_bench():
    """benchmarks/serve_bench.py: the server launcher, the photos and the load (imported by path)."""
    spec = importlib.util.spec_from_file_location("serve_bench", ROOT / "benchmarks" / "serve_bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench = _load_bench()
TOKEN = bench.TOKEN
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def photos(shared) -> dict[str, bytes]:
    return bench.photos(shared)


@pytest.fixture(scope="module")
def server(tmp_path_factory, shared):
    """One server for the module: face, sr and style, a gallery open to enrolment, tight limits."""
    folder = tmp_path_factory.mktemp("serve")
    live = bench.Server(["--models", "face,sr,style", "--gallery", str(folder / "people.npz"),
                         "--allow-enroll", "--upload-timeout", str(UPLOAD_TIMEOUT),
                         "--max-upload-mb", str(MAX_UPLOAD_MB),
                         "--max-pixels", str(MAX_PIXELS), "--workers", "2", "--queue", "16"],
                        folder / "server.log")
    try:
        live.wait_ready()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    yield live
    live.stop()


def _problem(answer, status: int, kind: str | None = None) -> dict:
    """The JSON error of `answer`, checked: its status, kind, one-line message, and no traceback."""
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["ok"] is False and body["status"] == status and "\n" not in body["error"]
    assert "Traceback" not in answer.text and "/tmp/" not in answer.text
    if kind:
        assert body["kind"] == kind, body
    return body


# ---- the API --------------------------------------------------------------------------------------------

def test_probes_models_page_and_docs(server):
    with server.client() as client:
        assert client.get("/healthz").json()["ok"] is True
        assert client.get("/readyz").json() == {"ok": True, "models": ["face", "sr", "style"]}
        models = client.get("/v1/models").json()["models"]
        assert models["face"]["model"] == "dlib-face-resnet" and models["face"]["max_distance"] == 0.6
        assert set(models["sr"]) == {"edsr-x2", "edsr-x3", "edsr-x4", "edsr-x4-real", "wdsr-x2", "wdsr-x4",
                                      "srgan-x4"}
        assert set(models["style"]) == {"starry-night", "the-scream"} and "gan" not in models
        page = client.get("/")
        assert page.status_code == 200 and "<title>visiontk</title>" in page.text
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert client.get("/app.js").status_code == 200
        paths = client.get("/openapi.json").json()["paths"]
        assert {"/v1/face/verify", "/v1/sr/upscale", "/v1/style/stylize", "/metrics"} <= set(paths)


def test_verify_gives_the_cli_record(server, photos, run_cli, tmp_path, shared):
    with server.client() as client:
        same = client.post("/v1/face/verify", files={"a": ("obama_1.jpg", photos["obama_1"]),
                                                       "b": ("obama_2.jpg", photos["obama_2"])})
        other = client.post("/v1/face/verify", files={"a": ("obama_1.jpg", photos["obama_1"]),
                                                        "b": ("biden_1.jpg", photos["biden_1"])})
    assert same.status_code == 200 and other.status_code == 200
    assert same.json()["same"] is True and other.json()["same"] is False
    # The same bytes through the CLI: the same record, field for field (names aside).
    for name in ("obama_1", "biden_1"):
        (tmp_path / f"{name}.jpg").write_bytes(photos[name])
    result = run_cli("face", "verify", tmp_path / "obama_1.jpg", tmp_path / "biden_1.jpg", "--json")
    cli_record = json.loads(result.stdout)
    assert set(cli_record) == set(other.json())
    assert {k: v for k, v in cli_record.items() if k not in "ab"} == \
        {k: v for k, v in other.json().items() if k not in "ab"}


def test_detect_embed_and_the_gallery(server, photos):
    with server.client() as client:
        detected = client.post("/v1/face/detect", files={"image": ("group.jpg", photos["group"])},
                               data={"draw": "true"}).json()
        assert detected["input"] == "group.jpg" and len(detected["faces"]) >= 2
        assert set(detected["faces"][0]) == {"box", "confidence", "landmarks"}
        assert detected["image"].startswith("data:image/png;base64,")
        embedded = client.post("/v1/face/embed", files={"image": ("obama_1.jpg", photos["obama_1"])}).json()
        assert len(embedded["faces"][0]["embedding"]) == 128 and embedded["faces"][0]["face"] == 0

        _problem(client.post("/v1/face/identify", files={"image": photos["obama_2"]}), 400, "bad_input")
        enrolled = client.post("/v1/face/enroll", data={"name": "obama"},
                               files=[("images", ("obama_1.jpg", photos["obama_1"]))])
        assert enrolled.status_code == 200 and enrolled.json()["embeddings"] == 1
        client.post("/v1/face/enroll", data={"name": "biden"},
                    files=[("images", ("b.jpg", photos["biden_1"]))])
        _problem(client.post("/v1/face/enroll", data={"name": "unknown"},
                             files=[("images", ("x.jpg", photos["obama_2"]))]), 422, "bad_parameters")
        named = client.post("/v1/face/identify", files={"image": ("group.jpg", photos["group"])}).json()
    names = [face["name"] for face in named["faces"]]
    assert sorted(names)[:2] == ["biden", "obama"] and set(names[2:]) <= {"unknown"}
    assert set(named["faces"][0]) == {"box", "name", "distance", "nearest"}


def test_upscale_and_stylize_return_images(server, photos):
    with server.client() as client:
        answer = client.post("/v1/sr/upscale", files={"image": ("tiny.jpg", photos["tiny"])},
                             data={"scale": "3"})
        assert answer.headers["content-type"] == "image/png"
        record = json.loads(answer.headers["x-visiontk-record"])
        assert record["model"] == "edsr-x3" and record["size"] == [24, 24]
        assert record["output_size"] == [72, 72] and record["bits"] == 8
        assert Image.open(io.BytesIO(answer.content)).size == (72, 72)
        as_json = client.post("/v1/sr/upscale", files={"image": photos["tiny"]},
                              data={"width": "40", "output": "jpeg"},
                              headers={"Accept": "application/json"}).json()
        assert as_json["output_size"] == [40, 40] and as_json["image"].startswith("data:image/jpeg;base64,")
        painted = client.post("/v1/style/stylize", files={"image": ("chelsea.jpg", photos["chelsea"])},
                              data={"model": "the-scream", "size": "128"})
        assert painted.headers["content-type"] == "image/jpeg"
        assert max(Image.open(io.BytesIO(painted.content)).size) == 128
        _problem(client.post("/v1/style/stylize", files={"image": photos["chelsea"]}, data={"model": "nope"}),
                 404, "unknown_model")
        _problem(client.post("/v1/gan/generate", data={"n": "4"}), 404, "unknown_model")   # not served
        _problem(client.post("/v1/sr/upscale", files={"image": photos["tiny"]},
                             data={"scale": "2", "model": "edsr-x4"}), 422, "bad_parameters")


def test_token_cors_and_metrics(server, photos):
    with httpx.Client(base_url=server.url, timeout=30) as anonymous:
        _problem(anonymous.post("/v1/face/detect", files={"image": photos["tiny"]}), 401, "unauthorized")
        _problem(anonymous.get("/v1/models", headers={"Authorization": "Bearer wrong"}), 403, "forbidden")
        _problem(anonymous.get("/metrics"), 401)
        assert anonymous.get("/healthz").status_code == 200     # probes stay open
    with server.client() as client:
        answer = client.get("/v1/models", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in answer.headers    # no CORS unless --cors
        text = client.get("/metrics").text
    assert 'visiontk_requests_total{endpoint="/v1/face/detect",status="200"}' in text
    assert 'visiontk_errors_total{kind="unauthorized"}' in text
    assert re.search(r'visiontk_request_seconds_bucket\{endpoint="/v1/sr/upscale",le="\+Inf"\} \d+', text)
    assert "visiontk_queue_depth 0" in text


# ---- hostile uploads ------------------------------------------------------------------------------------

def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def _gif_frames(count: int) -> bytes:
    frames = [Image.new("L", (4, 4), (i * 37) % 256) for i in range(count)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:])
    return buffer.getvalue()


def test_hostile_uploads_get_the_right_status_and_the_server_keeps_serving(server, photos):
    bomb = _png(Image.new("1", (5000, 5000)))       # 25 megapixels in a few kilobytes
    assert len(bomb) < 50_000
    cases = [
        ("truncated", {"image": ("t.jpg", photos["obama_1"][:5000])}, {}, 400, "bad_input"),
        ("text", {"image": ("notes.txt", b"hello, I am not a picture")}, {}, 400, "bad_input"),
        ("empty", {"image": ("e.png", b"")}, {}, 400, "bad_input"),
        ("bomb", {"image": ("bomb.png", bomb)}, {}, 413, "too_large"),
        ("frames", {"image": ("many.gif", _gif_frames(150))}, {}, 413, "too_large"),
        ("no face", {"image": ("chelsea.jpg", photos["chelsea"])}, {}, 400, "no_face"),
        ("field name", {"photo": ("o.jpg", photos["obama_1"])}, {}, 422, "bad_parameters"),
        ("parameter", {"image": ("o.jpg", photos["obama_1"])}, {"min_face": "-3"}, 422, "bad_parameters"),
        ("nan", {"image": ("o.jpg", photos["obama_1"])}, {"min_confidence": "nan"}, 422, "bad_parameters"),
    ]
    with server.client() as client:
        for name, files, data, status, kind in cases:
            body = _problem(client.post("/v1/face/embed", files=files, data=data), status, kind)
            if name in ("truncated", "text", "bomb"):
                assert body["error"].startswith(files["image"][0]), body   # named by the upload
        huge = b"\xff\xd8" + os.urandom(MAX_UPLOAD_MB * 1024 * 1024)
        _problem(client.post("/v1/face/detect", files={"image": ("huge.jpg", huge)}), 413, "too_large")
        body = (b'--x\r\nContent-Disposition: form-data; name="image"; filename="h.jpg"\r\n'
                b"Content-Type: image/jpeg\r\n\r\n" + huge + b"\r\n--x--\r\n")
        chunks = iter([body[i:i + 65536] for i in range(0, len(body), 65536)])
        streamed = client.post("/v1/face/detect", content=chunks,
                               headers={"Content-Type": "multipart/form-data; boundary=x"})
        _problem(streamed, 413, "too_large")       # no Content-Length: counted as it arrives
        _problem(client.get("/v1/face/verify"), 405)
        _problem(client.post("/v1/nothing"), 404, "not_found")
        _problem(client.post("/v1/face/detect", content=huge[:5000],
                             headers={"Content-Type": "multipart/form-data; boundary=y"}), 400, "bad_input")
        still = client.post("/v1/face/verify", files={"a": photos["obama_1"], "b": photos["obama_2"]})
        assert still.json()["same"] is True


def test_a_slow_upload_is_cut_off_and_others_are_served_meanwhile(server, photos):
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as slow:
        slow.sendall(f"POST /v1/face/detect HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
                     "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n"
                     "--b\r\n".encode())
        with server.client() as client:   # the slow client holds no worker
            assert client.post("/v1/face/detect", files={"image": photos["tiny"]}).status_code == 200
        slow.settimeout(UPLOAD_TIMEOUT + 10)
        answer = b""
        while not answer.endswith(b"}") and (chunk := slow.recv(4096)):
            answer += chunk
        answer = answer.decode()
    assert answer.startswith("HTTP/1.1 408") and '"kind":"timeout"' in answer


# ---- the browser ----------------------------------------------------------------------------------------

def _chromium():
    """Debian's chromium and chromedriver through selenium, or a skip saying what is missing."""
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (browser and driver):
        pytest.skip("no chromium and chromedriver here (Debian: apt-get install chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--window-size=1200,1000"):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver))


def test_the_page_in_a_real_browser(server, photos, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.select import Select
    from selenium.webdriver.support.wait import WebDriverWait

    for name in ("obama_1", "biden_1", "group"):
        (tmp_path / f"{name}.jpg").write_bytes(photos[name])
    (tmp_path / "notes.txt").write_text("not a photo")
    browser = _chromium()
    try:
        browser.get(server.url + "/")
        assert browser.title == "visiontk"
        browser.find_element(By.ID, "token").send_keys(TOKEN)
        wait = WebDriverWait(browser, 60)

        def run(action: str, *files: Path) -> None:
            Select(browser.find_element(By.ID, "action")).select_by_value(action)
            for field, path in zip(("file-a", "file-b"), files):
                browser.find_element(By.ID, field).send_keys(str(path))
            browser.find_element(By.ID, "json").get_attribute("textContent")
            browser.execute_script("document.getElementById('json').textContent = ''")
            browser.find_element(By.ID, "run").click()
            wait.until(lambda b: b.find_element(By.ID, "json").text or b.find_element(By.ID, "error").text)

        run("verify", tmp_path / "obama_1.jpg", tmp_path / "biden_1.jpg")
        assert browser.find_element(By.ID, "verdict").text.startswith("Different people")
        assert json.loads(browser.find_element(By.ID, "json").text)["same"] is False
        assert len(browser.find_elements(By.CSS_SELECTOR, "#images img")) == 2

        run("detect", tmp_path / "group.jpg")
        assert re.fullmatch(r"[2-9] face\(s\)", browser.find_element(By.ID, "verdict").text)
        drawn = browser.find_element(By.CSS_SELECTOR, "#images img")
        wait.until(lambda b: b.execute_script("return arguments[0].naturalWidth", drawn) > 0)

        run("detect", tmp_path / "notes.txt")
        error = browser.find_element(By.ID, "error").text
        assert error.startswith("Error 400 (bad_input): notes.txt: not an image"), error
    finally:
        browser.quit()


# ---- load, leak, shutdown -------------------------------------------------------------------------------

@pytest.mark.slow
def test_eight_clients_of_mixed_requests_get_no_server_error(server, photos):
    result = bench.mixed_load(server, bench.mix(photos), clients=8, seconds=10)
    print(f"\nload: {result}")
    assert result["requests"] >= 16
    assert set(result["statuses"]) == {200}, result      # no 5xx: no 503 (queue 16), no 504, no 500


# 1,000 requests take about a minute on two cores: CI leaves this to VISIONTK_FULL_TESTS=1 and to
# benchmarks/serve_bench.py, which measures the same.
@pytest.mark.full
def test_memory_after_1000_requests_is_within_10_percent_of_after_100(server, photos):
    figures = bench.memory(server, photos)
    print(f"\nmemory: {figures}")
    assert figures["growth"] <= 0.10


def test_sigterm_finishes_the_request_in_flight_and_exits_0(server, shared):
    """Last in this file: it stops the module's server."""
    photo = bench.jpeg(shared / "data" / "content" / "tubingen.jpg", 200)
    answers = []

    def slow_request() -> None:
        with server.client() as client:
            answers.append(client.post("/v1/sr/upscale", files={"image": photo}, data={"scale": "4"}))

    worker = threading.Thread(target=slow_request)
    worker.start()
    with server.client() as client:
        deadline = time.monotonic() + 20
        while "visiontk_in_flight 1" not in client.get("/metrics").text and time.monotonic() < deadline:
            time.sleep(0.02)
    server.process.send_signal(signal.SIGTERM)
    worker.join(60)
    assert server.process.wait(60) == 0, server.tail()
    assert answers and answers[0].status_code == 200
    assert Image.open(io.BytesIO(answers[0].content)).size[0] == 4 * Image.open(io.BytesIO(photo)).size[0]


# ---- pieces, without a server ---------------------------------------------------------------------------

def test_a_non_loopback_host_needs_a_token(run_cli, monkeypatch):
    monkeypatch.delenv("VISIONTK_TOKEN", raising=False)
    result = run_cli("serve", "--host", "0.0.0.0")
    assert result.exit_code == 2 and "give a token" in result.stderr
    result = run_cli("serve", "--host", "0.0.0.0", "--token", "short")
    assert result.exit_code == 2 and "at least 16" in result.stderr
    assert run_cli("serve", "--models", "face,video").exit_code == 2
    assert run_cli("serve", "--allow-enroll").exit_code == 2


def test_settings_security_rules():
    from visiontk.errors import UsageError
    from visiontk.server.settings import ServeSettings, is_loopback

    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.2") and not is_loopback("example.org")
    assert ServeSettings(host="0.0.0.0", token="x" * 16).checked().token == "x" * 16
    with pytest.raises(UsageError):
        ServeSettings(host="::").checked()


def test_runner_refuses_beyond_its_queue_and_times_out():
    from visiontk.server.problems import HTTPProblem
    from visiontk.server.runner import Runner

    async def scenario() -> tuple[list, HTTPProblem]:
        runner = Runner(workers=1, queue=1)
        loop = asyncio.get_running_loop()
        far = loop.time() + 10
        first = asyncio.ensure_future(runner.run(lambda: time.sleep(0.3) or "first", far))
        second = asyncio.ensure_future(runner.run(lambda: "second", far))
        await asyncio.sleep(0.05)
        with pytest.raises(HTTPProblem) as refused:
            await runner.run(lambda: "third", far)
        results = [await first, await second]
        with pytest.raises(HTTPProblem) as late:
            await runner.run(lambda: time.sleep(0.5), loop.time() + 0.1)
        assert runner.admitted == 1          # the timed-out job keeps its place until it ends
        await asyncio.sleep(0.6)
        assert runner.admitted == 0
        runner.close()
        return results + [refused.value], late.value

    (first, second, refused), late = asyncio.run(scenario())
    assert (first, second) == ("first", "second")
    assert refused.status == 503 and refused.kind == "busy" and int(refused.headers["Retry-After"]) >= 1
    assert late.status == 504 and late.kind == "timeout"


def test_limits_read_the_header_before_decoding():
    from visiontk.errors import BadInputError
    from visiontk.server.limits import read_upload, upload_label
    from visiontk.server.problems import HTTPProblem

    assert upload_label("image", "../../etc/passwd") == "passwd"
    assert upload_label("image", "C:\\Users\\me\\face.jpg") == "face.jpg"
    assert upload_label("image", None) == "image"
    picture = read_upload(_png(Image.new("RGBA", (6, 4), (1, 2, 3, 4))), "x.png", 100, 1)
    assert picture.size == (6, 4) and picture.alpha is not None and picture.path is None
    with pytest.raises(HTTPProblem, match="over the server's limit of 23"):
        read_upload(_png(Image.new("L", (6, 4))), "x.png", 23, 1)
    with pytest.raises(HTTPProblem, match="3 frames"):
        read_upload(_gif_frames(3), "x.gif", 100, 2)
    with pytest.raises(BadInputError, match="^x.png: corrupt or truncated"):
        read_upload(_png(Image.new("RGB", (64, 64)))[:-40], "x.png", 10_000, 1)


def test_embeddings_of_concurrent_requests_share_network_calls():
    import numpy as np

    from visiontk.server.batching import EmbeddingBatcher

    class Network:   # a stand-in for FaceModel: the mechanics only (the live server runs dlib's)
        def __init__(self) -> None:
            self.batches: list[int] = []

        def embed_chips(self, chips: np.ndarray) -> np.ndarray:
            if (chips < 0).any():
                raise ValueError("negative pixels")
            time.sleep(0.02)
            self.batches.append(len(chips))
            return chips[:, 0, 0, :2] * 2

    network = Network()
    batcher = EmbeddingBatcher(network, wait=0.05)
    chips = np.arange(8 * 150 * 150 * 3, dtype=np.float32).reshape(8, 150, 150, 3)
    answers: dict[int, np.ndarray] = {}
    threads = [threading.Thread(target=lambda i=i: answers.__setitem__(i, batcher.embed(chips[i:i + 1])))
               for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(network.batches) == 8 and len(network.batches) < 8          # shared calls
    for i in range(8):
        assert np.array_equal(answers[i], chips[i:i + 1, 0, 0, :2] * 2)   # each its own rows
    with pytest.raises(ValueError, match="negative"):
        batcher.embed(-chips[:1])
    assert batcher.embed(chips[:0]).shape == (0, 2)       # nothing to wait for


def test_cors_only_for_the_origins_given_and_the_token_in_process():
    from fastapi.testclient import TestClient

    from visiontk.server import ServeSettings, create_app
    from visiontk.server.models import ServedModels

    settings = ServeSettings(models=("sr",), cors=("https://app.example",), token=TOKEN)
    served = ServedModels(settings)
    served.ready = True          # nothing loaded: these routes need no network
    with TestClient(create_app(settings, served)) as client:
        asked = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization"}
        allowed = client.options("/v1/sr/upscale", headers=asked)
        assert allowed.headers["access-control-allow-origin"] == "https://app.example"
        other = client.options("/v1/sr/upscale", headers={**asked, "Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers
        answer = client.get("/v1/models", headers={**AUTH, "Origin": "https://app.example"})
        assert answer.json() == {"ok": True, "models": {}}
        assert answer.headers["access-control-allow-origin"] == "https://app.example"
        assert client.get("/v1/models", headers={"Origin": "https://app.example"}).status_code == 401
