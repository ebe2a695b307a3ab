"""Library errors name parameters (`outscale`), the command line names flags (--outscale): the library
writes a parameter in backticks and the CLI rewrites it in one place (cli.common.parameters_as_flags),
for single errors and for each failed input of a batch alike (issue 26)."""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from visiontk.cli.common import parameters_as_flags, run_batch
from visiontk.cli.main import cli
from visiontk.errors import NoFaceError, UsageError

ROOT = Path(__file__).resolve().parents[1]


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def one_error_line(result, code: int) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == code, result.stderr
    assert len(lines) == 1 and lines[0].startswith("visiontk: error: "), result.stderr
    return lines[0]


@pytest.fixture
def photos(tmp_path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray(rng.integers(0, 255, (24, 32, 3), np.uint8)).save(folder / f"{i}.png")
    return folder


def test_a_library_call_names_the_parameter_and_the_cli_the_flag(photos, tmp_path):
    from visiontk.sr import check_outscale

    with pytest.raises(UsageError) as raised:
        check_outscale(2, 2.5)
    assert str(raised.value) == "`outscale` 2.5 is more than the x2 model makes"
    line = one_error_line(invoke("sr", "upscale", photos / "0.png", "--scale", "2", "--outscale", "2.5",
                                 "-o", tmp_path / "out.png"), 2)
    assert line == "visiontk: error: --outscale 2.5 is more than the x2 model makes"


def test_parameters_of_the_command_become_its_flags_and_others_lose_their_backticks(photos, tmp_path):
    from visiontk import similar

    out = tmp_path / "hashes.vtkidx"
    assert invoke("similar", "index", photos, "--backbone", "none", "--out", out).exit_code == 0
    with pytest.raises(UsageError, match=r"\(`backbone` none\)"):
        similar.search(out, [photos / "0.png"])
    # search has no --backbone (index has): the name stays, as a word
    line = one_error_line(invoke("similar", "search", "--index", out, photos / "0.png"), 2)
    assert "(backbone none)" in line and "`" not in line and "--" not in line
    line = one_error_line(invoke("similar", "index", photos, "--backbone", "vgg16", "--out", out), 2)
    assert "made with --backbone none, --pooling gem, --size 256: give the same options" in line


def context_of(*names: str) -> click.Context:
    """The context `visiontk NAMES...` runs its command in (the groups' contexts above it)."""
    ctx = click.Context(cli, info_name="visiontk")
    for name in names:
        ctx = click.Context(ctx.command.commands[name], parent=ctx, info_name=name)
    return ctx


@pytest.mark.parametrize("names, message, expected", [
    (("face", "detect"), "try a smaller `min_face` or a lower `min_confidence`",
     "try a smaller --min-face or a lower --min-confidence"),              # not its old name, --threshold
    (("face", "detect"), "`seed` and `device` are global, `inputs` an argument",
     "--seed and --device are global, INPUTS an argument"),
    (("gan", "interpolate"), "`steps` must be between 2 and 256", "-n must be between 2 and 256"),
    (("gan", "train"), "`width` (the run has 64)", "--filters (the run has 64)"),  # not the hidden --width
    (("sr", "compare"), "`crop` 0 0 9 is not inside", "--region 0 0 9 is not inside"),
    (("sr", "upscale"), "`tile` must be at least 16; run `visiontk models fetch NAME`",
     "--tile must be at least 16; run `visiontk models fetch NAME`"),
    (("models", "list"), "`tile` must be at least 16", "tile must be at least 16"),
])
def test_the_rewriting(names, message, expected):
    assert parameters_as_flags(message, context_of(*names)) == expected


@click.command()
@click.option("--min-face", type=int, default=20)
@click.option("--continue-on-error", is_flag=True)
@click.option("--json", "as_json", is_flag=True)
def no_faces(min_face, continue_on_error, as_json):
    """A batch of two inputs in which no face is found, as `face embed` reports them."""
    def work(path):
        raise NoFaceError(f"{path}: no face found (try a smaller `min_face`)")
    return run_batch([Path("a.png"), Path("b.png")], work, as_json=as_json,
                     continue_on_error=continue_on_error)


def test_a_batch_names_flags_in_its_lines_and_json_records():
    result = CliRunner().invoke(no_faces, ["--continue-on-error", "--json"])
    assert "a.png: no face found (try a smaller --min-face)" in result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["error"] for r in records] == [f"{p}: no face found (try a smaller --min-face)"
                                             for p in ("a.png", "b.png")]
    assert [r["exit_code"] for r in records] == [3, 3]


def test_a_batch_and_a_single_input_read_the_same(photos, tmp_path):
    for name in ("0_x2.png", "1_x2.png"):   # every output exists: no input gets as far as the network
        (tmp_path / name).write_bytes(b"keep me")
    upscale = ("sr", "upscale", "--scale", "2", "--output-dir", tmp_path)
    single = one_error_line(invoke(*upscale, photos / "0.png"), 3)
    expected = (f"{tmp_path / '0_x2.png'}: output exists "
                "(use --overwrite to replace it, or --skip-existing to leave it)")
    assert single == f"visiontk: error: {expected}"
    first = one_error_line(invoke(*upscale, photos), 3)
    assert first == f"visiontk: error: {photos / '0.png'}: {expected}"
    kept = invoke(*upscale, photos, "--continue-on-error", "--json")
    assert kept.exit_code == 5
    assert json.loads(kept.stdout.splitlines()[0])["error"] == f"{photos / '0.png'}: {expected}"
    assert f"visiontk: error: {photos / '0.png'}: {expected}" in kept.stderr.splitlines()


# ---- the source: no library error names a flag -----------------------------------------------------

FLAG = re.compile(r"(?<![\w-])--?[a-zA-Z]")
COMMAND_EXAMPLE = re.compile(r"`(?:visiontk|pip) [^`]*`")   # a command to run, flags and all


def error_strings(tree: ast.AST):
    """The string parts of every argument given to an exception's constructor (`...Error(...)`)."""
    for call in ast.walk(tree):
        if isinstance(call, ast.Call):
            name = getattr(call.func, "id", None) or getattr(call.func, "attr", "")
            if name.endswith(("Error", "Exception")):
                for argument in call.args:
                    yield from (node for node in ast.walk(argument)
                                if isinstance(node, ast.Constant) and isinstance(node.value, str))


def test_no_library_error_names_a_flag():
    library = [p for p in (ROOT / "visiontk").rglob("*.py")
               if p.relative_to(ROOT).parts[1] not in ("cli", "server")]
    found = [f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}"
             for path in library for node in error_strings(ast.parse(path.read_text()))
             if FLAG.search(COMMAND_EXAMPLE.sub("", node.value))]
    assert found == [], "write a parameter as `name` (the CLI names its flag):\n" + "\n".join(found)
    assert len(library) > 50
