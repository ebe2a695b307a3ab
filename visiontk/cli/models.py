"""`visiontk models`: list, fetch, import, verify and locate the pretrained weights."""
from __future__ import annotations

import click

from visiontk import weights
from visiontk.cli.common import emit, json_option
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
