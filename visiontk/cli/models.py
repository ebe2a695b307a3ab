"""`visiontk models`: list, fetch, import, verify and locate the pretrained weights; export networks."""
from __future__ import annotations

import click

from visiontk import weights
from pathlib import Path

from visiontk.cli.common import emit, json_option, overwrite_option
from visiontk.errors import WeightsError


@click.group("models")
def command() -> None:
    """The pretrained weights visiontk uses, and where they are."""


@command.command("list")
@json_option
def list_models(as_json: bool) -> None:
    """Every registered weight set and whether it is present here."""
    for spec in weights.all_specs():
        info = weights.status(spec)
        state = "ok" if info["present"] else ("INVALID" if info["path"] else "missing")
        emit({"input": spec.name, "ok": True, **info}, as_json,
             f"{spec.name:24} {state:8} {info['description']}\n"
             f"{'':24} {'':8} {info['path'] or spec.source}")


@command.command("fetch")
@click.argument("names", nargs=-1, required=True)
@json_option
def fetch(names: tuple[str, ...], as_json: bool) -> None:
    """Download weights (checked against their registered hash) into the cache."""
    for name in names:
        path = weights.fetch(name)
        emit({"input": name, "ok": True, "name": name, "path": path}, as_json, f"{name}: {path}")


@command.command("import")
@click.argument("name")
@click.argument("file", type=click.Path(dir_okay=False))
@json_option
def import_(name: str, file: str, as_json: bool) -> None:
    """Copy a weights FILE you have (e.g. downloaded elsewhere) into the cache as NAME."""
    path = weights.import_file(name, file)
    emit({"input": file, "ok": True, "name": name, "path": path}, as_json, f"{name}: imported to {path}")


@command.command("verify")
@click.argument("names", nargs=-1)
@json_option
def verify(names: tuple[str, ...], as_json: bool) -> None:
    """Re-hash every weights file found (or just NAMES), shadowed copies included; exit 4 if any is
    corrupt."""
    specs = [weights.get_spec(n) for n in names] if names else weights.all_specs()
    bad = []
    for spec in specs:
        info = weights.status(spec, fresh=True)
        corrupt = [f["path"] for f in info["files"] if not f["valid"]]
        bad += corrupt
        lines = [f"{spec.name:24} {'ok' if f['valid'] else 'CORRUPT':8} {f['path']}"
                 + ("  (used)" if f["path"] == info["path"] and f["valid"] and len(info["files"]) > 1 else "")
                 for f in info["files"]] or [f"{spec.name:24} {'missing':8}"]
        emit({"input": spec.name, "ok": not corrupt, **info}, as_json, "\n".join(lines))
    if bad:
        raise WeightsError(f"{', '.join(bad)}: file does not match its registered hash; delete it and "
                           "fetch or import it again")


@command.command("path")
@click.argument("name")
def path(name: str) -> None:
    """Print the verified path of weights NAME (exit 4 if missing)."""
    click.echo(weights.resolve(name))


@command.command("export")
@click.argument("source", metavar="NAME_OR_FILE")
@click.option("--format", "fmt", type=click.Choice(["savedmodel", "tflite", "onnx"]), required=True,
              help="SavedModel (a folder; TensorFlow Serving), TFLite (phones) or ONNX (needs tf2onnx).")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="The folder (savedmodel) or file to write.")
@click.option("--quantize", type=click.Choice(["none", "float16", "dynamic"]), default="none",
              show_default=True, help="TFLite weights: float16 halves the file, dynamic (int8) quarters it.")
@click.option("--check-image", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A photo to compare the export with Keras on [default: a synthetic test card].")
@overwrite_option
@json_option
def export(source: str, fmt: str, output: Path, quantize: str, check_image: Path | None, overwrite: bool,
           as_json: bool) -> None:
    """Export a network for serving: EDSR (edsr-x2/x3/x4 or a .weights.h5), the face embedder
    (dlib-face-resnet or a `face train` .keras), MTCNN's stages (mtcnn-pnet/rnet/onet), the DCGAN
    generator (dcgan-fashion-mnist or a run), a feed-forward style network (.weights.h5).

    Images go in and come out as uint8; the export is checked against Keras before it is written.

    \b
      visiontk models export edsr-x4 --format tflite --quantize float16 -o edsr-x4.tflite
      visiontk models export dlib-face-resnet --format savedmodel -o serving/face/1
    """
    from visiontk import serving

    serving.check_options(fmt, quantize)
    record = serving.export(serving.resolve(source), output, fmt, quantize, overwrite, check_image)
    if not record["checked"]:
        check = "not checked"
    elif record["output_kind"] == "image":
        check = f"max difference {record['check_max_abs_diff'] * 255:.0f}/255"
    elif record["output_kind"] == "vector":
        check = f"cosine {record['check_cosine']:.5f}"
    else:
        check = f"max difference {record['check_max_abs_diff']:.2g}"
    emit({"input": source, "ok": True, **record}, as_json,
         f"{source} -> {output} ({fmt}{'' if quantize == 'none' else ' ' + quantize}, "
         f"{record['bytes'] / 1e6:.1f} MB; against Keras: {check})")
