"""The hostile battery, part 2: the world around the files. Read-only and full disks (tiny tmpfs
mounts, skipped where the test can't mount), the umask, 255-byte name limits, temporary files stranded
by SIGKILL, two runs writing one output, SIGTERM while starting up, and weights that were tampered with
or must be downloaded (from a local HTTP server, never the internet)."""
from __future__ import annotations

import contextlib
import hashlib
import http.server
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from visiontk import atomic, imageio, weights
from visiontk.cli.main import cli
from visiontk.errors import BadInputError, OutputExistsError, WeightsError
from visiontk.weights.registry import KnownFile, WeightSpec, register

TINY = np.random.default_rng(0).integers(0, 255, (16, 16, 3), np.uint8)


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def one_error_line(result, code: int) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == code, result.stderr
    assert len(lines) == 1 and lines[0].startswith("visiontk: error: ") and "Traceback" not in result.stderr
    return lines[0]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".part" in p.name)


# ---- read-only and full disks ---------------------------------------------------------------------

@contextlib.contextmanager
def tmpfs(where: Path, options: str):
    """A tmpfs mounted at `where` (root only); the test is skipped where mounting isn't allowed.
    chmod can't make a read-only folder for root, a read-only mount can."""
    where.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"can't mount a tmpfs here ({done.stderr.decode().strip()[:80]})")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_read_only_destination_is_exit_3(tmp_path):
    with tmpfs(tmp_path / "ro", "ro,size=1m") as ro:
        line = one_error_line(invoke("gan", "generate", "-n", "1", "--grid", ro / "g.png"), 3)
        assert "read-only file system" in line and str(ro) in line
        with pytest.raises(BadInputError, match="read-only"):
            imageio.write_image(ro / "sub" / "x.png", TINY)


def test_full_disk_is_exit_3_and_keeps_what_was_there(tmp_path):
    source = tmp_path / "tiny.png"
    Image.fromarray(TINY).save(source)
    with tmpfs(tmp_path / "full", "size=64k") as full:
        existing = full / "tiny_x2.png"
        existing.write_bytes(b"the previous result")
        with contextlib.suppress(OSError), open(full / "filler", "wb") as filler:
            while True:
                filler.write(b"\0" * 4096)
                filler.flush()
        result = invoke("sr", "upscale", source, "--scale", "2", "--output-dir", full, "--overwrite")
        assert "no space left" in one_error_line(result, 3)
        assert existing.read_bytes() == b"the previous result"
        assert leftovers(full) == []


# ---- how files are written ------------------------------------------------------------------------

@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_outputs_honour_the_umask(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        written = imageio.write_image(tmp_path / "out.png", TINY)
    finally:
        os.umask(previous)
    assert written.stat().st_mode & 0o777 == mode


def test_replacing_a_file_keeps_its_mode(tmp_path):
    target = tmp_path / "out.png"
    imageio.write_image(target, TINY)
    target.chmod(0o640)
    imageio.write_image(target, TINY[::-1], overwrite=True)
    assert target.stat().st_mode & 0o777 == 0o640
    assert np.array_equal(imageio.read_image(target), TINY[::-1])


def test_a_device_or_fifo_is_never_replaced_by_an_output(tmp_path):
    os.mkfifo(tmp_path / "pipe.png")
    for target in (tmp_path / "pipe.png", Path("/dev/null")):
        with pytest.raises(BadInputError, match="not a regular file"):
            with atomic.atomic_output(target, overwrite=True) as tmp:
                tmp.write_bytes(b"x")
    assert not (tmp_path / "pipe.png").is_file() and Path("/dev/null").is_char_device()
    result = invoke("gan", "generate", "-n", "1", "--grid", tmp_path / "pipe.png", "--overwrite")
    line = one_error_line(result, 3)
    assert "pipe.png: not a regular file" in line


def test_temporary_names_fit_in_255_bytes(tmp_path):
    for name in ("p" * 245 + ".png", "é" * 122 + ".png", "w" * 238 + ".weights.h5"):
        assert len(name.encode()) <= 255
        with atomic.atomic_output(tmp_path / name) as tmp:
            assert len(tmp.name.encode()) <= 255 and tmp.parent == tmp_path
            tmp.write_bytes(b"data")
        assert (tmp_path / name).read_bytes() == b"data"
    assert leftovers(tmp_path) == []


def test_second_writer_is_refused(tmp_path):
    target = tmp_path / "out.png"
    with pytest.raises(OutputExistsError):
        with atomic.atomic_output(target) as tmp:
            imageio.write_image(target, TINY)  # another run finished first, while we worked
            tmp.write_bytes(b"ours")
    assert np.array_equal(imageio.read_image(target), TINY)
    assert leftovers(tmp_path) == []


RACING_WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from visiontk.errors import OutputExistsError
    from visiontk.atomic import atomic_output
    target, me, go = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    try:
        with atomic_output(target) as tmp:  # both pass the "exists?" check before either finishes
            tmp.write_text(me)
            while not go.exists():
                time.sleep(0.01)
    except OutputExistsError:
        sys.exit(3)
""")


def test_two_processes_writing_one_output_one_wins_the_other_is_refused(tmp_path):
    target, go = tmp_path / "out.txt", tmp_path / "go"
    writers = [subprocess.Popen([sys.executable, "-c", RACING_WRITER, str(target), name, str(go)])
               for name in ("first", "second")]
    deadline = time.time() + 60
    while len(leftovers(tmp_path)) < 2 and time.time() < deadline:  # both are writing
        time.sleep(0.01)
    go.touch()
    codes = sorted(w.wait(timeout=60) for w in writers)
    assert codes == [0, 3]
    assert target.read_text() in ("first", "second") and leftovers(tmp_path) == []


KILLED_WRITER = textwrap.dedent("""
    import os, signal, sys
    from visiontk.atomic import atomic_output
    with atomic_output(sys.argv[1]) as tmp:
        tmp.write_bytes(b"half an image")
        if len(sys.argv) > 2:
            print("holding", flush=True)
            sys.stdin.read()  # a live writer: keep the temporary file until told
        os.kill(os.getpid(), signal.SIGKILL)
""")


def test_temporary_files_stranded_by_sigkill_are_removed_by_the_next_run(tmp_path, monkeypatch):
    subprocess.run([sys.executable, "-c", KILLED_WRITER, str(tmp_path / "a.png")], check=False)
    stranded = leftovers(tmp_path)
    assert len(stranded) == 1 and stranded[0].startswith(".a.png.")
    # A writer that is still alive, in another process: its temporary file stays.
    live = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(tmp_path / "b.png"), "hold"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert live.stdout.readline().strip() == "holding"
        old = time.time() - 3600
        for name in leftovers(tmp_path):
            os.utime(tmp_path / name, (old, old))
        monkeypatch.setattr(atomic, "_cleaned", set())
        imageio.write_image(tmp_path / "c.png", TINY)
        remaining = leftovers(tmp_path)
        assert len(remaining) == 1 and remaining[0].startswith(".b.png.")
    finally:
        live.kill()
        live.wait()
    assert not (tmp_path / "a.png").exists() and not (tmp_path / "b.png").exists()


def test_only_old_temporary_files_of_dead_writers_on_this_host_are_removed(tmp_path, monkeypatch):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    host = atomic._host()
    old = time.time() - 3600
    names = {"stranded": f".x.png.{host}-{dead}.abcd1234.part.png",
             "fresh": f".y.png.{host}-{dead}.abcd1234.part.png",  # its writer may be about to rename it
             "other host": f".z.png.{'0' if host[0] != '0' else '1'}{host[1:]}-{dead}.abcd1234.part.png",
             "not ours": ".notes.txt.part"}
    for key, name in names.items():
        (tmp_path / name).write_bytes(b"x")
        if key != "fresh":
            os.utime(tmp_path / name, (old, old))
    monkeypatch.setattr(atomic, "_cleaned", set())
    imageio.write_image(tmp_path / "out.png", TINY)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "out.png") == sorted(
        name for key, name in names.items() if key != "stranded")


# ---- signals --------------------------------------------------------------------------------------

def _field(status: Path, name: str) -> str:
    for line in status.read_text().splitlines():
        if line.startswith(name + ":"):
            return line.split()[1]
    return "0"


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads /proc (Linux)")
def test_sigterm_while_starting_up_exits_130(tmp_path):
    process = subprocess.Popen([sys.executable, "-m", "visiontk", "gan", "generate", "-n", "2", "--grid",
                                str(tmp_path / "g.png")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    # Signal as soon as visiontk's first lines have run (it catches SIGTERM): still importing, long
    # before TensorFlow is loaded.
    status = Path(f"/proc/{process.pid}/status")
    deadline = time.time() + 60
    while time.time() < deadline and not int(_field(status, "SigCgt"), 16) & (1 << (signal.SIGTERM - 1)):
        time.sleep(0.01)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert stderr.strip().splitlines() == ["visiontk: interrupted"]
    assert list(tmp_path.iterdir()) == []


def test_an_interruption_raised_inside_a_string_exec_still_exits_130(tmp_path):
    """CI once saw -2 (killed by SIGINT) instead of 130: the SIGTERM landed while a dataclass was being
    built (an `exec` of a string), which CPython remembers and turns into a SIGINT exit at the end."""
    script = textwrap.dedent("""
        import sys
        import visiontk.cli.main as cli
        from visiontk.__main__ import main

        def interrupted_command():
            try:
                exec("raise KeyboardInterrupt")
            except KeyboardInterrupt:
                sys.stderr.write("visiontk: interrupted\\n")
                sys.exit(130)

        cli.main = interrupted_command
        main()
    """)
    (tmp_path / "interrupted_run.py").write_text(script)  # run with -m, as `python -m visiontk` is
    done = subprocess.run([sys.executable, "-m", "interrupted_run"], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert done.returncode == 130, done.stderr
    assert done.stderr.strip() == "visiontk: interrupted"


def test_an_interruption_python_has_to_drop_prints_one_line_not_a_traceback(tmp_path):
    """CI once saw "Exception ignored in: <function _get_module_lock.<locals>.cb>" and a traceback
    above the one-line message: the SIGTERM landed inside an import lock's callback, where an exception
    can't propagate. A finalizer is such a place too, and happens on demand."""
    script = textwrap.dedent("""
        import signal
        import sys
        import visiontk.cli.main as cli
        from visiontk.__main__ import main

        class SignalledWhileFinalized:
            def __del__(self):
                signal.raise_signal(signal.SIGTERM)
                sum(range(1000))  # a few bytecodes, so the handler runs here, inside __del__

        @cli.cli.command("finalize")
        def command_that_finishes():
            SignalledWhileFinalized()

        sys.argv = ["visiontk", "finalize"]
        main()
    """)
    (tmp_path / "dropped_interrupt.py").write_text(script)
    done = subprocess.run([sys.executable, "-m", "dropped_interrupt"], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert done.returncode == 130, done.stderr
    assert done.stderr.strip() == "visiontk: interrupted"


def test_sr_train_prints_nothing_on_stderr(tmp_path):
    """TensorFlow's C++ runtime logs an ERROR-level note (oneDNN and DT_UINT8) during training: hidden."""
    photos = tmp_path / "hr"
    photos.mkdir()
    for i in range(3):
        pixels = np.random.default_rng(i).integers(0, 255, (48, 48, 3), np.uint8)
        Image.fromarray(pixels).save(photos / f"{i}.png")
    tiny = ["--steps", "2", "--batch", "2", "--patch", "12", "--val-images", "1", "--val-every", "2",
            "--checkpoint-every", "2", "--blocks", "1", "--features", "8"]
    done = subprocess.run([sys.executable, "-m", "visiontk", "sr", "train", str(photos), "--out",
                           str(tmp_path / "run"), *tiny, "--json"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert strict_json(done.stdout)["step"] == 2


def strict_json(line: str) -> dict:
    def refuse(constant):
        raise AssertionError(f"not strict JSON ({constant}): {line}")

    return json.loads(line, parse_constant=refuse)


# ---- weights: integrity ---------------------------------------------------------------------------

@pytest.fixture
def toy(tmp_path, monkeypatch):
    payload = os.urandom(3000)
    known = KnownFile("toy-hostile.bin", sha256=hashlib.sha256(payload).hexdigest())
    spec = register(WeightSpec(name="toy-hostile", description="test only", source="tests", files=(known,)))
    monkeypatch.setenv("VISIONTK_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("VISIONTK_MODELS", raising=False)
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "toy-hostile.bin").write_bytes(payload)
    return spec, payload, tmp_path / "cache" / "toy-hostile.bin"


def test_rewrite_with_same_size_and_mtime_is_not_trusted(toy):
    spec, payload, path = toy
    assert weights.resolve(spec.name) == path  # hashed, and remembered
    stat = path.stat()
    with open(path, "r+b") as handle:  # same size, in place (same inode), then the mtime put back
        handle.write(bytes([payload[0] ^ 0xFF]))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size and path.stat().st_mtime_ns == stat.st_mtime_ns
    with pytest.raises(WeightsError, match="hash mismatch"):
        weights.resolve(spec.name)


def test_verify_rehashes_every_copy_including_shadowed_ones(toy, tmp_path, monkeypatch):
    spec, payload, good = toy
    shadow = tmp_path / "mine"
    shadow.mkdir()
    (shadow / "toy-hostile.bin").write_bytes(payload[:-1] + b"!")
    monkeypatch.setenv("VISIONTK_MODELS", str(shadow))
    assert weights.resolve(spec.name) == good  # the corrupt copy is skipped...
    result = invoke("models", "verify", spec.name, "--json")
    assert result.exit_code == 4  # ...but verify says so
    record = json.loads(result.stdout)
    assert record["ok"] is False and record["input"] == spec.name and record["path"] == str(good)
    assert {f["path"]: f["valid"] for f in record["files"]} == {str(shadow / "toy-hostile.bin"): False,
                                                                str(good): True}
    assert str(shadow / "toy-hostile.bin") in result.stderr
    text = invoke("models", "verify", spec.name)
    assert "CORRUPT" in text.stdout and "ok" in text.stdout


# ---- weights: download on first use -----------------------------------------------------------------

@pytest.fixture
def server(tmp_path):
    """A local HTTP server on 127.0.0.1 serving tmp_path/www."""
    www = tmp_path / "www"
    www.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(www), **kwargs)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield www, f"http://127.0.0.1:{httpd.server_address[1]}/weights"
    httpd.shutdown()


@pytest.fixture
def downloadable(tmp_path, monkeypatch, server):
    www, base = server
    (www / "weights").mkdir()
    payload = os.urandom(200_000)
    (www / "weights" / "remote.h5").write_bytes(payload)
    known = KnownFile("remote.h5", md5=hashlib.md5(payload).hexdigest(),
                      url="https://example.invalid/remote.h5", size=len(payload))
    spec = register(WeightSpec(name="toy-remote", description="test only", source="a test server",
                               files=(known,)))
    monkeypatch.setenv("VISIONTK_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("VISIONTK_WEIGHTS_URL", base)
    monkeypatch.delenv("VISIONTK_MODELS", raising=False)
    monkeypatch.delenv("VISIONTK_OFFLINE", raising=False)
    return spec, payload, www / "weights" / "remote.h5"


def test_missing_weights_are_downloaded_on_first_use_and_hash_checked(downloadable, tmp_path, caplog):
    spec, payload, _ = downloadable
    caplog.set_level("INFO", logger="visiontk")
    result = invoke("models", "path", spec.name)
    assert result.exit_code == 0, result.stderr
    path = Path(result.stdout.strip())
    assert path == tmp_path / "cache" / "remote.h5" and path.read_bytes() == payload
    assert "downloading toy-remote (0.2 MB)" in caplog.text
    assert weights.resolve(spec.name) == path  # second use: no download
    assert leftovers(path.parent) == []


def test_a_download_with_the_wrong_hash_is_not_kept(downloadable, tmp_path):
    spec, payload, served = downloadable
    served.write_bytes(payload[::-1])
    with pytest.raises(WeightsError, match="hash is wrong"):
        weights.resolve(spec.name)
    assert not (tmp_path / "cache" / "remote.h5").exists() and leftovers(tmp_path / "cache") == []


def test_offline_gives_the_fetch_advice(downloadable, monkeypatch):
    spec, _, _ = downloadable
    result = invoke("--offline", "models", "path", spec.name)
    assert "visiontk models fetch toy-remote" in one_error_line(result, 4)
    monkeypatch.setenv("VISIONTK_OFFLINE", "1")
    with pytest.raises(WeightsError, match="models fetch toy-remote"):
        weights.resolve(spec.name)
    monkeypatch.setenv("VISIONTK_OFFLINE", "0")
    assert weights.resolve(spec.name).is_file()


def test_unreachable_server_is_exit_4(downloadable, monkeypatch):
    spec, _, _ = downloadable
    monkeypatch.setenv("VISIONTK_WEIGHTS_URL", "http://127.0.0.1:9/nothing")
    line = one_error_line(invoke("models", "path", spec.name), 4)
    assert "could not download" in line and "models import" in line


@pytest.mark.parametrize("memo", ["[]", "{\"x\": 1}", "{\"a|b\": {\"sha256\": 5}}", "\u0000garbage", "{"])
def test_a_damaged_hash_memo_is_ignored(toy, memo):
    spec, _, path = toy
    (path.parent / "hashes.json").write_text(memo)
    assert weights.resolve(spec.name) == path
    assert json.loads((path.parent / "hashes.json").read_text())  # rewritten whole
