"""The hostile battery, part 1: every command against bad files, FIFOs, bad option values and outputs
that can't be written. The rule each case checks: a documented exit code (never 70, the "bug" code),
exactly one line on stderr, no traceback, and no output file left behind.

Everything runs in-process through Click's runner, on one 16x16 image; an alarm turns a hang (a FIFO
read) into a failure instead of a stuck test run. Disks, signals and weights are in test_hostile_disk.py.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from visiontk.cli.main import cli

DOCUMENTED = {1, 2, 3, 4, 5, 130}


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """One tiny image, a corrupt and an empty one, a FIFO named like an image and like a data set, a
    plain file to stand where a folder should be, and a small .npz data set."""
    root = tmp_path_factory.mktemp("hostile")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (16, 16, 3), np.uint8)).save(root / "tiny.png")
    (root / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    (root / "empty.jpg").write_bytes(b"")
    os.mkfifo(root / "fifo.png")
    os.mkfifo(root / "fifo.npz")
    (root / "afile").write_text("a file, not a folder")
    np.savez(root / "data.npz", images=rng.integers(0, 255, (12, 28, 28, 1), np.uint8))
    (root / "out").mkdir()
    return {p.name.replace(".", "_"): p for p in root.iterdir()} | {"root": root}


def invoke(*args, input: str | None = None, timeout: int = 120):
    """Run `visiontk ARGS` in-process; a command still running after `timeout` s fails the test."""
    def hang(signum, frame):
        raise TimeoutError(f"visiontk {' '.join(map(str, args))} hung (blocked on a FIFO?)")

    previous = signal.signal(signal.SIGALRM, hang)
    signal.alarm(timeout)
    try:
        return CliRunner().invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def assert_refused(result, code: int, *needles: str) -> str:
    """The battery's rule: the expected documented code, one line on stderr, no traceback."""
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == code, result.stderr
    assert code in DOCUMENTED
    assert len(lines) == 1 and lines[0].startswith("visiontk: error: "), result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0]
    return lines[0]


def strict_json(line: str) -> dict:
    """Parse as a strict parser would: NaN and Infinity are not JSON."""
    def refuse(constant):
        raise AssertionError(f"not strict JSON ({constant}): {line}")

    return json.loads(line, parse_constant=refuse)


# ---- bad option values: usage errors (exit 2) before any work ---------------------------------------

BAD_OPTIONS = [
    ("gan", "generate", "-n", "0", "--grid", "{out}/g.png"),
    ("gan", "generate", "-n", "-3", "--grid", "{out}/g.png"),
    ("gan", "generate", "-n", "many", "--grid", "{out}/g.png"),
    ("gan", "generate", "-n", "10000000", "--grid", "{out}/g.png"),
    ("gan", "generate", "--zoom", "0", "--grid", "{out}/g.png"),
    ("gan", "generate", "--scale", "100000", "--grid", "{out}/g.png"),
    ("gan", "interpolate", "1", "2", "-n", "1", "-o", "{out}/i.png"),
    ("gan", "interpolate", "1", "2", "--steps", "99999999", "-o", "{out}/i.png"),
    ("gan", "interpolate", "one", "2", "-o", "{out}/i.png"),
    ("gan", "score", "{data_npz}", "--splits", "0"),
    ("gan", "score", "{data_npz}", "-n", "0"),
    ("gan", "score", "{data_npz}", "-n", "-5"),
    ("gan", "train", "{data_npz}", "--out", "{out}/run", "--batch-size", "0"),
    ("gan", "train", "{data_npz}", "--out", "{out}/run", "--epochs", "-1"),
    ("gan", "train", "{data_npz}", "--out", "{out}/run", "--latent-dim", "0"),
    ("gan", "train", "{data_npz}", "--out", "{out}/run", "--log-every", "0"),
    ("gan", "train-judge", "{data_npz}", "-o", "{out}/j.weights.h5", "--epochs", "0"),
    ("gan", "train-judge", "{data_npz}", "-o", "{out}/j.weights.h5", "--batch-size", "0"),
    ("stylize", "{tiny_png}", "{tiny_png}", "-o", "{out}/s.png", "--iterations", "0"),
    ("stylize", "{tiny_png}", "{tiny_png}", "-o", "{out}/s.png", "--iterations", "3,0"),
    ("stylize", "{tiny_png}", "{tiny_png}", "-o", "{out}/s.png", "--size", "100000"),
    ("stylize", "{tiny_png}", "{tiny_png}", "-o", "{out}/s.png", "--size", "0"),
    ("stylize", "{tiny_png}", "{tiny_png}", "-o", "{out}/s.png", "--scales", "0"),
    ("stylize", "{tiny_png}", "{tiny_png}", "-o", "{out}/s.png", "--style-scale", "0"),
    ("stylize", "{tiny_png}", "{tiny_png}", "-o", "{out}/s.png", "--learning-rate", "-1"),
    ("stylize", "{tiny_png}", "{tiny_png}", "-o", "{out}/s.png", "--seed", "-1"),
    ("stylize", "{tiny_png}", "{tiny_png}", "-o", "{out}/s.png", "--style-scale", "1e300"),
    ("stylize", "{tiny_png}", "{tiny_png}", "-o", "{out}/s.png", "--style-scale", "nan"),
    ("stylize", "{tiny_png}", "{tiny_png}", "-o", "{out}/s.png", "--size", "4096", "--style-scale", "4"),
    ("stylize", "{tiny_png}", "{tiny_png}", "-o", "{out}/s.png", "--content-weight", "nan"),
    ("stylize", "{tiny_png}", "{tiny_png}", "-o", "{out}/s.png", "--tv-weight", "-inf"),
    ("sr", "upscale", "{tiny_png}", "--scale", "0"),
    ("sr", "upscale", "{tiny_png}", "--scale", "5"),
    ("sr", "upscale", "{tiny_png}", "--tile", "0"),
    ("sr", "upscale", "{tiny_png}", "--overlap", "-1"),
    ("sr", "upscale", "{tiny_png}", "--outscale", "nan"),
    ("sr", "eval", "{tiny_png}", "--scale", "1"),
    ("sr", "compare", "{tiny_png}", "-o", "{out}/c.png", "--zoom", "0"),
    ("face", "detect", "{tiny_png}", "--min-face", "0"),
    ("face", "detect", "{tiny_png}", "--threshold", "2"),
    ("face", "verify", "{tiny_png}", "{tiny_png}", "--threshold", "-1"),
    ("face", "train", "{root}", "-o", "{out}/m.weights.h5", "--epochs", "0"),
    ("face", "train", "{root}", "-o", "{out}/m.weights.h5", "--identities-per-batch", "1"),
    ("gan", "generate", "-n", "1", "--grid", "{out}/g.png", "--seed", "-1"),
    ("gan", "interpolate", "-1", "2", "-o", "{out}/i.png"),
    ("--seed", "-5", "gan", "generate", "-n", "1", "--grid", "{out}/g.png"),
    ("similar", "index", "{root}", "--out", "{out}/x.vtkidx", "--size", "10"),
    ("similar", "search", "{tiny_png}", "--index", "{out}/x.vtkidx", "-k", "0"),
    ("similar", "dupes", "{root}", "--threshold", "2"),
    ("similar", "merge", "--out", "{out}/m.vtkidx"),
    ("stylize", "texture", "{tiny_png}", "-o", "{out}/t.png", "--size", "0"),
    ("stylize", "texture", "{tiny_png}", "-o", "{out}/t.png", "--style-scale", "nan"),
    ("serve", "--port", "-1"),
    ("serve", "--host", "0.0.0.0", "--port", "0"),  # off loopback without a token
    ("--device", "tpu", "models", "list"),
    ("--seed", "x", "models", "list"),
    ("no-such-command",),
]


def _fill(args, files) -> list[str]:
    names = {k: str(v) for k, v in files.items()} | {"out": str(files["out"])}
    return [a.format(**names) for a in args]


@pytest.mark.parametrize("args", BAD_OPTIONS, ids=lambda a: " ".join(a)[:60])
def test_bad_option_values_are_usage_errors(files, args):
    before = set(files["out"].iterdir())
    assert_refused(invoke(*_fill(args, files)), 2)
    assert set(files["out"].iterdir()) == before  # nothing written


# ---- bad, missing and special files: exit 3 naming the file, never a hang ----------------------------

BAD_FILES = [
    ("sr", "upscale", "{bad}", "--output-dir", "{out}"),
    ("sr", "upscale", "{empty}", "--output-dir", "{out}"),
    ("sr", "upscale", "{fifo_png}", "--output-dir", "{out}"),
    ("sr", "upscale", "{root}/missing.png", "--output-dir", "{out}"),
    ("sr", "eval", "{fifo_png}", "--bicubic-only"),
    ("sr", "eval", "{bad}", "--bicubic-only"),
    ("sr", "compare", "{fifo_png}", "-o", "{out}/c.png"),
    ("sr", "compare", "{bad}", "-o", "{out}/c.png"),
    ("face", "detect", "{fifo_png}"),
    ("face", "detect", "{bad}", "--json"),
    ("face", "embed", "{fifo_png}", "--json"),
    ("face", "verify", "{fifo_png}", "{tiny_png}"),
    ("face", "verify", "{bad}", "{tiny_png}"),
    ("gan", "score", "{fifo_npz}"),
    ("gan", "score", "{bad}"),
    ("gan", "train", "{fifo_npz}", "--out", "{out}/run"),
    ("gan", "train-judge", "{fifo_npz}", "-o", "{out}/j.weights.h5"),
    ("stylize", "{tiny_png}", "{fifo_png}", "-o", "{out}/s.png", "--backbone", "vgg16"),
    ("stylize", "{tiny_png}", "{bad}", "-o", "{out}/s.png", "--backbone", "vgg16"),
    ("face", "enroll", "--gallery", "{out}/g.npz", "bob", "{fifo_png}"),
    ("face", "identify", "--gallery", "{fifo_npz}", "{tiny_png}"),
    ("face", "gallery", "list", "--gallery", "{fifo_npz}"),
    ("face", "gallery", "remove", "--gallery", "{fifo_npz}", "bob"),
    ("face", "eval", "{bad}"),
    ("face", "eval", "{fifo_png}"),
    ("face", "cluster", "{fifo_png}"),
    ("face", "cluster", "{bad}", "--json"),
    ("gan", "generate", "--model", "{bad}", "--grid", "{out}/g.png"),
    ("gan", "interpolate", "1", "2", "--model", "{bad}", "-o", "{out}/i.png"),
    ("models", "export", "{bad}", "--format", "tflite", "-o", "{out}/x.tflite"),
    ("similar", "index", "{fifo_png}", "--out", "{out}/x.vtkidx", "--backbone", "none"),
    ("similar", "index", "{bad}", "--out", "{out}/x.vtkidx", "--backbone", "none"),
    ("similar", "search", "{tiny_png}", "--index", "{fifo_npz}"),
    ("similar", "dupes", "{fifo_png}", "--backbone", "none"),
    ("similar", "dupes", "--index", "{bad}"),
    ("similar", "merge", "{fifo_npz}", "--out", "{out}/m.vtkidx"),
    ("stylize", "texture", "{fifo_png}", "-o", "{out}/t.png"),
    ("stylize", "texture", "{bad}", "-o", "{out}/t.png"),
    ("serve", "--gallery", "{fifo_npz}", "--port", "0"),
    ("serve", "--gallery", "{bad}", "--port", "0"),
]

# Commands whose refusals are usage errors or weights errors rather than exit 3.
OTHER_REFUSALS = [
    (("stylize", "export", "{tiny_png}", "-o", "{out}/e.weights.h5"), 2),
    (("stylize", "apply", "{tiny_png}", "-s", "{tiny_png}", "--model", "nope", "--output-dir", "{out}"), 2),
    (("sr", "export", "{tiny_png}", "-o", "{out}/x.weights.h5"), 2),
    (("sr", "train", "{afile}", "--out", "{out}/srrun"), 3),
    (("gan", "export", "{out}", "{out}/e.weights.h5"), 3),
    (("models", "import", "fashion-mnist-judge", "{bad_png}"), 4),
    (("stylize", "train", "{tiny_png}", "{root}", "--out", "{out}/st", "--steps", "0"), 2),
    (("face", "train", "{afile}", "-o", "{out}/m.weights.h5"), 2),
    (("face", "export", "{tiny_png}", "-o", "{out}/m.keras"), 2),
    (("face", "export", "{out}", "-o", "{out}/m.keras"), 3),
    (("models", "fetch", "no-such-weights"), 4),
    (("models", "path", "no-such-weights"), 4),
    (("models", "verify", "no-such-weights"), 4),
    (("models", "list", "extra-argument"), 2),
]


@pytest.mark.parametrize("args,code", OTHER_REFUSALS,
                         ids=lambda a: " ".join(a)[:60] if isinstance(a, tuple) else "")
def test_other_refusals(files, args, code):
    before = set(files["out"].iterdir())
    assert_refused(invoke(*_fill(args, files)), code)
    assert set(files["out"].iterdir()) == before


def test_every_command_is_in_the_battery():
    import click

    def leaves(group, prefix):
        for name, command in group.commands.items():
            if isinstance(command, click.Group):
                yield from leaves(command, prefix + (name,))
            else:
                yield prefix + (name,)

    refusals = [case.values[0] if hasattr(case, "values") else case[0] for case in OTHER_REFUSALS]
    tables = BAD_OPTIONS + BAD_FILES + PARENT_IS_A_FILE + refusals
    covered = set()
    for path in leaves(cli, ()):
        for args in tables:
            words = [a for a in args if not a.startswith("{")]
            if tuple(words[:len(path)]) == path or (path == ("stylize", "apply") and words[0] == "stylize"
                                                    and words[1] not in ("train", "export")):
                covered.add(path)
    assert set(leaves(cli, ())) - covered == set()


@pytest.mark.parametrize("args", BAD_FILES, ids=lambda a: " ".join(a)[:60])
def test_bad_and_special_input_files_are_exit_3(files, args, shared_weights):
    files = files | {"bad": files["bad_png"], "empty": files["empty_jpg"]}
    before = set(files["out"].iterdir())
    line = assert_refused(invoke(*_fill(args, files)), 3)
    named = [str(p) for k, p in files.items() if k in ("bad", "empty", "fifo_png", "fifo_npz")]
    assert any(name in line for name in named + ["missing.png"]), line
    assert set(files["out"].iterdir()) == before


def test_fifo_refusal_says_what_is_wrong(files):
    line = assert_refused(invoke("sr", "upscale", files["fifo_png"], "--output-dir", files["out"]), 3)
    assert "not a regular file" in line


def test_weights_import_of_a_fifo_is_exit_4(files):
    assert_refused(invoke("models", "import", "vgg16-imagenet", files["fifo_npz"]), 4, "not a regular file")


# ---- outputs that can't be written ---------------------------------------------------------------

PARENT_IS_A_FILE = [
    ("similar", "index", "{tiny_png}", "--out", "{afile}/x.vtkidx", "--backbone", "none"),
    ("stylize", "texture", "{tiny_png}", "-o", "{afile}/t.png", "--backbone", "vgg16"),
    ("gan", "generate", "-n", "2", "--grid", "{afile}/g.png"),
    ("gan", "generate", "-n", "2", "--output-dir", "{afile}/samples"),
    ("gan", "interpolate", "1", "2", "-o", "{afile}/i.png"),
    ("sr", "upscale", "{tiny_png}", "-o", "{afile}/u.png"),
    ("sr", "upscale", "{tiny_png}", "--output-dir", "{afile}/sub"),
    ("face", "detect", "{tiny_png}", "--draw", "{afile}/d.png"),
    ("face", "embed", "{tiny_png}", "-o", "{afile}/e.npz"),
    ("stylize", "{tiny_png}", "{tiny_png}", "-o", "{afile}/s.png", "--backbone", "vgg16"),
]


@pytest.mark.parametrize("args", PARENT_IS_A_FILE, ids=lambda a: " ".join(a)[:60])
def test_output_whose_parent_is_a_file_is_exit_3(files, args, shared_weights):
    line = assert_refused(invoke(*_fill(args, files)), 3)
    assert str(files["afile"]) in line
    assert files["afile"].read_text() == "a file, not a folder"


def test_output_name_of_249_bytes_is_written_and_256_refused(files):
    long_name = "n" * 245 + ".png"  # 249 bytes: valid, though its temporary name would not be
    target = files["out"] / long_name
    result = invoke("gan", "generate", "-n", "1", "--grid", target, "--seed", "1")
    assert result.exit_code == 0, result.stderr
    assert Image.open(target).format == "PNG"
    assert [p.name for p in files["out"].iterdir() if ".part" in p.name] == []
    too_long = files["out"] / ("n" * 252 + ".png")
    assert_refused(invoke("gan", "generate", "-n", "1", "--grid", too_long), 3, "too long")
    target.unlink()


def test_exists_hint_names_only_the_options_the_command_has(files, tmp_path):
    grid = tmp_path / "grid.png"
    grid.write_bytes(b"keep me")
    line = assert_refused(invoke("gan", "generate", "-n", "1", "--grid", grid), 3, "--overwrite")
    assert "--skip-existing" not in line
    upscaled = tmp_path / "tiny_x4.png"
    upscaled.write_bytes(b"keep me")
    line = assert_refused(invoke("sr", "upscale", files["tiny_png"], "--output-dir", tmp_path), 3)
    assert "--overwrite" in line and "--skip-existing" in line
    assert grid.read_bytes() == upscaled.read_bytes() == b"keep me"


def test_gan_generate_checks_every_output_before_writing_any(tmp_path):
    samples = tmp_path / "samples"
    samples.mkdir()
    (samples / "sample-00002.png").write_bytes(b"keep me")
    line = assert_refused(invoke("gan", "generate", "-n", "4", "--output-dir", samples,
                                 "--grid", tmp_path / "grid.png"), 3, "sample-00002.png")
    assert "--skip-existing" not in line
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["sample-00002.png", "samples"]
    assert (samples / "sample-00002.png").read_bytes() == b"keep me"


def test_gan_score_with_too_few_images_for_the_splits(files):
    assert_refused(invoke("gan", "score", files["data_npz"], "--splits", "20"), 3, "split")
    assert_refused(invoke("gan", "score", files["data_npz"], "-n", "1", "--reference", files["data_npz"],
                          "--splits", "1"), 3, "FID")


# ---- global options wherever a shell user puts them -----------------------------------------------

def test_quiet_verbose_and_json_after_the_command(tmp_path):
    for args in (["models", "list", "-q"], ["-q", "models", "list"], ["models", "list", "-q", "-v"]):
        assert invoke(*args).exit_code == 0, args
    before = [strict_json(line) for line in invoke("--json", "models", "list").stdout.splitlines()]
    after = [strict_json(line) for line in invoke("models", "list", "--json").stdout.splitlines()]
    assert before == after and len(after) >= 8
    result = invoke("gan", "generate", "-n", "1", "--grid", tmp_path / "g.png", "-q", "--json")
    assert result.exit_code == 0 and strict_json(result.stdout)["ok"] is True
    assert invoke("gan", "generate", "-n", "0", "--grid", tmp_path / "h.png", "-q").exit_code == 2


# ---- strict JSON, with input and ok, from every command that has --json ------------------------------

def test_json_records_are_strict_and_explain_nulls():
    from visiontk.cli.common import json_line

    record = strict_json(json_line({"input": "a.png", "ok": True, "loss": float("nan"),
                                    "scales": [{"loss": np.float32("inf")}, {"loss": 1.5}]}))
    assert record["loss"] is None and record["scales"][0]["loss"] is None
    assert record["scales"][1]["loss"] == 1.5
    assert record["null_reasons"] == {"loss": "NaN", "scales[0].loss": "Infinity"}


def json_commands() -> set[str]:
    """Every command path that has a --json option."""
    import click

    found = set()

    def walk(group, prefix):
        for name, command in group.commands.items():
            if isinstance(command, click.Group):
                walk(command, prefix + [name])
            elif any(p.name == "as_json" for p in command.params):
                found.add(" ".join(prefix + [name]))
    walk(cli, [])
    return found


@pytest.fixture(scope="module")
def json_outputs(tmp_path_factory, files) -> dict[str, str]:
    """--json output of the commands cheap enough to run here, successful runs and refusals alike.
    (The slower trainings and exports are covered by their own tests' --json runs; here they are run
    into a refusal, which must be a JSON-free exit 2/3 with nothing on stdout.)"""
    out = tmp_path_factory.mktemp("json")
    face = Path(__file__).resolve().parents[2] / "shared" / "data" / "faces" / "biden_1.jpg"
    gallery = out / "people.npz"
    library = out / "library"   # three photos, two of them the same file: one group of duplicates
    library.mkdir()
    for name in ("a.png", "a-copy.png"):
        shutil.copy(files["tiny_png"], library / name)
    shutil.copy(face, library / "b.jpg")
    runs = {
        "models list": ["models", "list", "--json"],
        "models verify": ["models", "verify", "fashion-mnist-judge", "--json"],
        "models fetch": ["models", "fetch", "fashion-mnist-judge", "--json"],
        "models import": ["models", "import", "fashion-mnist-judge",
                          Path(__file__).resolve().parents[1] / "models" / "fashion-mnist-judge.weights.h5",
                          "--json"],
        "gan generate": ["gan", "generate", "-n", "2", "--grid", out / "g.png", "--json"],
        "gan interpolate": ["gan", "interpolate", "1", "2", "--steps", "2", "-o", out / "i.png", "--json"],
        "gan score": ["gan", "score", files["data_npz"], "--splits", "2", "--json"],
        "sr upscale": ["sr", "upscale", files["tiny_png"], "--scale", "2", "-o", out / "u.png", "--json",
                       "--continue-on-error"],
        "sr eval": ["sr", "eval", files["tiny_png"], "--scale", "2", "--bicubic-only", "--json"],
        "face detect": ["face", "detect", face, "--json"],
        "face embed": ["face", "embed", face, "--json"],
        "face verify": ["face", "verify", face, face, "--json"],
        "face enroll": ["face", "enroll", "--gallery", gallery, "joe", face, "--json"],
        "face identify": ["face", "identify", "--gallery", gallery, face, "--json"],
        "face gallery list": ["face", "gallery", "list", "--gallery", gallery, "--json"],
        "face cluster": ["face", "cluster", face, face, "--json"],
        "face gallery remove": ["face", "gallery", "remove", "--gallery", gallery, "joe", "--json"],
        "stylize apply": ["stylize", files["tiny_png"], files["tiny_png"], "-o", out / "s.png",
                          "--backbone", "vgg16",
                    "--size", "32", "--scales", "1", "--iterations", "1", "--json"],
        "stylize train": ["stylize", "train", files["tiny_png"], files["root"], "--out", out / "strun",
                          "--steps", "0", "--json"],
        "models export": ["models", "export", "no-such-model", "--format", "tflite", "-o", out / "x.tflite",
                          "--json"],
        "sr compare": ["sr", "compare", files["tiny_png"], "--scale", "2", "-o", out / "c.png", "--json"],
        "sr train": ["sr", "train", files["root"], "--out", out / "srrun", "--batch", "0", "--json"],
        "sr export": ["sr", "export", out, "-o", out / "x.weights.h5", "--json"],
        "gan train": ["gan", "train", files["data_npz"], "--out", out / "ganrun", "--epochs", "1",
                      "--batch-size", "4", "--filters", "8", "--json"],
        "gan export": ["gan", "export", out / "ganrun", out / "e.weights.h5", "--json"],
        "gan train-judge": ["gan", "train-judge", files["data_npz"], "-o", out / "j.weights.h5",
                            "--epochs", "0", "--json"],
        "face train": ["face", "train", files["root"], "-o", out / "m.weights.h5", "--epochs", "0", "--json"],
        "face eval": ["face", "eval", files["fifo_png"], "--json"],
        "face export": ["face", "export", out, "-o", out / "m.keras", "--json"],
        "similar index": ["similar", "index", library, "--out", out / "lib.vtkidx", "--backbone", "vgg16",
                          "--size", "64", "--json"],
        "similar search": ["similar", "search", files["tiny_png"], "--index", out / "lib.vtkidx", "-k", "2",
                           "--json"],
        "similar dupes": ["similar", "dupes", library, "--backbone", "none", "--json"],
        "similar merge": ["similar", "merge", out / "lib.vtkidx", out / "lib.vtkidx", "--out",
                          out / "merged.vtkidx", "--json"],
        "stylize export": ["stylize", "export", out, "-o", out / "se.weights.h5", "--json"],
        "stylize texture": ["stylize", "texture", files["tiny_png"], "-o", out / "t.png", "--size", "32",
                            "--scales", "1", "--iterations", "1", "--backbone", "vgg16", "--json"],
    }
    saved = os.environ.get("VISIONTK_MODELS")
    os.environ["VISIONTK_MODELS"] = str(face.parents[2] / "weights")  # VGG16 for stylize
    try:
        return {name: invoke(*args) for name, args in runs.items()}
    finally:
        if saved is None:
            del os.environ["VISIONTK_MODELS"]
        else:
            os.environ["VISIONTK_MODELS"] = saved


def test_every_json_command_is_exercised(json_outputs):
    assert json_commands() <= set(json_outputs)


@pytest.mark.parametrize("command", sorted(json_commands()))
def test_every_json_line_is_strict_with_input_and_ok(json_outputs, command):
    result = json_outputs[command]
    assert result.exit_code != 70, result.stderr
    assert "Traceback" not in result.stderr
    for line in result.stdout.splitlines():
        record = strict_json(line)
        assert "input" in record and isinstance(record["ok"], bool), line
    if command in SUCCEEDING:
        assert result.exit_code == 0, result.stderr
    if command in NAMED_INPUT:
        assert all(strict_json(line)["input"] for line in result.stdout.splitlines()), result.stdout
    if result.exit_code == 0:
        assert result.stdout.strip(), f"{command} --json printed nothing"


# Commands whose records are about a file or a name, which `input` must give (the others may say null).
NAMED_INPUT = {"models list", "models verify", "models fetch", "models import", "gan generate",
               "gan interpolate", "gan score", "gan train", "gan export", "sr upscale", "sr compare",
               "stylize apply", "face detect", "face embed", "face enroll", "face identify", "face gallery list",
               "face gallery remove", "face cluster", "similar search", "similar dupes", "stylize texture"}

# The runs of json_outputs that are meant to succeed (the others are refusals).
SUCCEEDING = {"models list", "models verify", "models fetch", "models import", "gan generate",
              "gan interpolate", "gan score", "gan train", "gan export", "sr upscale", "sr eval", "sr compare", "stylize apply",
              "face detect", "face embed", "face verify", "face enroll", "face identify", "face gallery list",
              "face gallery remove", "face cluster", "similar index", "similar search", "similar dupes",
              "similar merge", "stylize texture"}


# ---- every numeric option of every command, at parse time -----------------------------------------

def numeric_options():
    import click

    def walk(group, prefix):
        for name, command in group.commands.items():
            if isinstance(command, click.Group):
                yield from walk(command, prefix + [name])
                continue
            for param in command.params:
                if isinstance(param.type, (click.types.IntParamType, click.types.FloatParamType)):
                    yield " ".join(prefix + [name]), param
    return list(walk(cli, []))


# Float options that may take any float, nan included (none now).
UNBOUNDED_FLOATS: set[tuple[str, str]] = set()


@pytest.mark.parametrize("command,param", numeric_options(),
                         ids=lambda x: x if isinstance(x, str) else x.name)
def test_numeric_options_refuse_wrong_types_and_nan(command, param):
    import click

    with pytest.raises(click.BadParameter):
        param.type.convert("twelve", param, None)
    if isinstance(param.type, click.types.FloatParamType) and (command, param.name) not in UNBOUNDED_FLOATS:
        for value in ("nan", "inf", "-inf"):
            with pytest.raises(click.BadParameter):
                param.type.convert(value, param, None)


def test_a_damaged_fid_statistics_cache_is_recomputed(files, tmp_path, monkeypatch):
    monkeypatch.setenv("VISIONTK_CACHE", str(tmp_path))
    args = ("gan", "score", files["data_npz"], "--reference", files["data_npz"], "--splits", "2", "--json")
    first = invoke(*args)
    assert first.exit_code == 0, first.stderr
    (cached,) = (tmp_path / "fid-stats").iterdir()
    cached.write_bytes(b"PK\x03\x04 not really a zip")
    again = invoke(*args)
    assert again.exit_code == 0, again.stderr
    assert strict_json(again.stdout)["fid"] == strict_json(first.stdout)["fid"]


@pytest.mark.parametrize("args", [("sr", "upscale", "-", "--output-dir", "{out}"), ("gan", "score", "-"),
                                  ("face", "detect", "-")], ids=lambda a: " ".join(a[:2]))
def test_a_nul_character_in_a_path_on_stdin_is_exit_3(files, args):
    assert_refused(invoke(*_fill(args, files), input="bad\0name.png\n"), 3, "not a valid file name")
