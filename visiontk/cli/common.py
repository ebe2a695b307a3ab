"""Pieces every command group shares: common options, output (text or JSON lines), and the batch loop."""
from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any, Callable, Iterable

import click
import numpy as np

from visiontk.errors import (BadInputError, BatchFailedError, OutputExistsError, VisiontkError,
                             from_memory_error, from_os_error)
from visiontk.imageio import WRITE_FORMATS, expand_inputs
from visiontk.runtime import STRATEGIES, GracefulStop

json_option = click.option("--json", "as_json", is_flag=True,
                           help="Print results as JSON, one object per line.")
continue_option = click.option("--continue-on-error", is_flag=True,
                               help="Report a failed input and go on; exit 5 at the end if any failed.")
overwrite_option = click.option("--overwrite", is_flag=True, help="Replace existing output files.")
skip_existing_option = click.option("--skip-existing", is_flag=True,
                                    help="Leave inputs whose output already exists (to resume a batch).")
# The `TASK export RUN -o FILE` commands: the run folder a `TASK train` wrote, and the file to write.
run_dir_argument = click.argument("run_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))


def export_output_option(help: str, required: bool = True):
    return click.option("-o", "--output", required=required, type=click.Path(dir_okay=False, path_type=Path),
                        help=help)


crf_option = click.option("--crf", type=click.IntRange(0, 63), default=None,
                          help="Quality of video outputs (constant rate factor): lower is better and bigger "
                               "[default: 18 for H.264 .mp4/.mov/.mkv, 31 for VP9 .webm].")
strategy_option = click.option("--strategy", type=click.Choice(STRATEGIES),
                               default="default", show_default=True,
                               help="tf.distribute strategy for training.")
inputs_argument = click.argument("inputs", nargs=-1, required=True)

# Option values are checked here, at parse time, so that a bad one is a usage error (exit 2) before
# any work. Use these for counts, sizes and scales instead of a bare int/float.
class FiniteFloatRange(click.FloatRange):
    """A FloatRange that also refuses nan and inf (Click's range check lets nan through)."""

    name = "finite float range"

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


POSITIVE_INT = click.IntRange(min=1)
NON_NEGATIVE_INT = click.IntRange(min=0)
POSITIVE_FLOAT = FiniteFloatRange(min=0, min_open=True)
NON_NEGATIVE_FLOAT = FiniteFloatRange(min=0)


def bounded_float(low: float, high: float, low_open: bool = False) -> FiniteFloatRange:
    return FiniteFloatRange(min=low, max=high, min_open=low_open)


def bounded_int(low: int, high: int) -> click.IntRange:
    """An int option between low and high inclusive (a huge value is refused before allocating)."""
    return click.IntRange(min=low, max=high)


def _store_shard(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    from visiontk.sharding import parse_shard

    try:
        ctx.meta["visiontk.shard"] = parse_shard(value) if value else None
    except VisiontkError as exc:
        message = parameters_as_flags(str(exc), ctx).removeprefix("--shard ")   # Click names the option
        raise click.BadParameter(message, ctx, param) from None


shard_option = click.option(
    "--shard", metavar="K/N", envvar="VISIONTK_SHARD", callback=_store_shard, expose_value=False,
    help="Do only shard K of N (K = 0..N-1) of the sorted inputs, so N processes share a batch; "
         "`auto` reads a SLURM array's or Kubernetes indexed Job's index. [env: VISIONTK_SHARD]")


def stack(*options: Callable) -> Callable:
    """Several Click options as one decorator, in the order given (as they show in --help)."""
    def decorate(command: Callable) -> Callable:
        for option in reversed(options):
            command = option(command)
        return command
    return decorate


def batch_options(skip_existing: bool = True) -> Callable:
    """The options of every command that runs over many inputs: --crf (video outputs), --overwrite,
    --skip-existing (where outputs are named from inputs), --continue-on-error, --shard, --json."""
    return stack(crf_option, overwrite_option, *([skip_existing_option] if skip_existing else []),
                 continue_option, shard_option, json_option)


def this_shard(paths: list[Path]) -> list[Path]:
    """The inputs this process does under --shard (all of them without it)."""
    shard = click.get_current_context().meta.get("visiontk.shard")
    return shard.select(paths) if shard else paths


def input_paths(inputs: Iterable[str]) -> list[Path]:
    """Files from the command line: files, folders (searched for images) or `-` (paths on stdin)."""
    stdin = click.get_text_stream("stdin")
    paths = expand_inputs(inputs, stdin=stdin)
    if not paths:
        raise BadInputError(f"no images found in {' '.join(inputs)}")
    return paths


def to_jsonable(value: Any, reasons: dict | None = None, where: str = "") -> Any:
    """Plain JSON types for `value`. A NaN or infinite number becomes null, and `reasons` (when given)
    records why under its place in the record (e.g. "scales[1].loss": "NaN"), since strict JSON
    parsers refuse NaN and Infinity."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v, reasons, f"{where}.{k}" if where else str(k))
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v, reasons, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist(), reasons, where)
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        if reasons is not None:
            reasons[where] = "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
        return None
    return value


def json_line(record: dict) -> str:
    """One strict JSON object: non-finite numbers are null, explained in `null_reasons`."""
    reasons: dict = {}
    plain = to_jsonable(record, reasons)
    if reasons:
        plain["null_reasons"] = reasons
    return json.dumps(plain, ensure_ascii=False, allow_nan=False)


def emit(record: dict, as_json: bool, text: str | None = None) -> None:
    """Print one result: a JSON line (with `input` and `ok`, as README promises), or human-readable text."""
    if as_json:
        click.echo(json_line({"input": None, "ok": True, **record}))
    elif text is not None:
        click.echo(text)


# A parameter in a library message: `name` in backticks (a backticked command has spaces, and stays).
_PARAMETER = re.compile(r"`([A-Za-z_][A-Za-z0-9_]*)`")


def parameters_as_flags(message: str, ctx: click.Context | None = None) -> str:
    """A library error message as the command line says it.

    Library messages write a parameter as `name` in backticks, so that a Python caller reads the names
    it passes (`tile`, `min_face`). Each such name that is a parameter of the command of `ctx` (default:
    the one running) or of the groups above it (the global options) becomes what sets it on the command
    line: an option's first long flag as --help shows it (min_face -> --min-face), an argument's
    metavar (data -> DATA); any other name just loses its backticks. Backticked commands, such as
    `visiontk models fetch NAME`, are left as they are. The error handler (visiontk/cli/main.py) and
    `report_failure` both call this, so that a batch's errors read like a single input's."""
    spellings = _command_line_spellings(ctx or click.get_current_context(silent=True))
    return _PARAMETER.sub(lambda found: spellings.get(found[1], found[1]), message)


def command_line_message(exc: VisiontkError, ctx: click.Context | None = None) -> str:
    """The message of a library error as the command of `ctx` (default: the one running) says it: its
    flags (parameters_as_flags), and for "output exists" only the options that command has."""
    ctx = ctx or click.get_current_context(silent=True)
    if isinstance(exc, OutputExistsError):
        exc = exc.for_options(frozenset(_command_line_spellings(ctx)))
    return parameters_as_flags(str(exc), ctx)


def failure_message(path: Path, exc: VisiontkError) -> str:
    """One input's failure in a batch, as the command line says it, beginning with the input."""
    message = command_line_message(exc)
    return message if message.startswith(str(path)) else f"{path}: {message}"


def _command_line_spellings(ctx: click.Context | None) -> dict[str, str]:
    """Parameter name -> its spelling on the command line, for the shown parameters of `ctx`'s command
    and of the groups above it (the command's own win over the global options)."""
    contexts = []
    while ctx is not None:
        contexts.insert(0, ctx)
        ctx = ctx.parent
    spellings = {}
    for context in contexts:
        for param in context.command.params:
            if not getattr(param, "hidden", False):
                spellings[param.name] = _spelling(param)
    return spellings


def _spelling(param: click.Parameter) -> str:
    if isinstance(param, click.Argument):
        return param.human_readable_name
    shown = param.opts[:1] if isinstance(param, OldNameOption) else param.opts   # not a hidden old name
    return next((opt for opt in shown if opt.startswith("--")), shown[0])


def report_failure(path: Path, exc: VisiontkError, as_json: bool) -> None:
    """Print one input's failure (and its --json record) in the words the error handler would use."""
    message = failure_message(path, exc)
    click.echo(f"visiontk: error: {message}", err=True)
    if as_json:
        emit({"input": str(path), "ok": False, "error": message, "exit_code": exc.exit_code}, True)


def run_batch(paths: list[Path], work: Callable[[Path], dict | None], *, as_json: bool,
              continue_on_error: bool, describe: Callable[[dict], str] | None = None) -> int:
    """Run `work` on each path, printing each result as it comes.

    `work` returns a result record (printed via `describe` or as JSON) or None when it skipped the item.
    Without --continue-on-error the first failure ends the batch with its own exit code; with it, the
    failures are reported one by one and the batch ends with exit 5.
    """
    failures = 0
    with GracefulStop("stopping after the current item (Ctrl-C again to stop now)") as stop:
        for path in paths:
            try:
                try:
                    record = work(path)
                except OSError as exc:  # the disk's failure on this item: exit 3 like a bad file
                    raise from_os_error(exc) from None
                except MemoryError:
                    raise from_memory_error(str(path)) from None
            except VisiontkError as exc:
                if not continue_on_error:
                    if len(paths) > 1:   # which input failed; OutputExistsError's words are final here
                        kind = BadInputError if isinstance(exc, OutputExistsError) else type(exc)
                        raise kind(failure_message(path, exc)) from exc
                    raise
                report_failure(path, exc, as_json)
                failures += 1
            else:
                if record is not None:
                    record = {"input": str(path), "ok": True, **record}
                    emit(record, as_json, describe(record) if describe else None)
            if stop.requested:
                raise KeyboardInterrupt
    if failures:
        raise BatchFailedError(f"{failures} of {len(paths)} inputs failed (see the errors above)")
    return 0


def output_for(path: Path, output_dir: Path | None, suffix: str, extension: str | None = None) -> Path:
    """Where a batch writes the result for `path`: beside it, or in `output_dir`, as NAME+suffix+ext.
    The extension defaults to the input's, or .png for inputs we read but don't write (GIF)."""
    folder = output_dir if output_dir is not None else path.parent
    if extension is None:
        extension = path.suffix if path.suffix.lower() in WRITE_FORMATS else ".png"
    return folder / f"{path.stem}{suffix}{extension}"


class OldNameOption(click.Option):
    """An option whose names after the first are old spellings: still accepted, left out of --help."""

    def get_help_record(self, ctx):
        names, self.opts = self.opts, self.opts[:1]
        try:
            return super().get_help_record(ctx)
        finally:
            self.opts = names


def settings_options(settings_class: type, names: Iterable[str]) -> Callable:
    """The options of a `TASK train` command, made from its settings dataclass so that every task spells
    an idea the same way and keeps its defaults in one place: field `learning_rate` is
    `--learning-rate`, typed and defaulted by the field, with the help, bounds and choices of its
    metadata (`help`, `min`, `max`, `choices`; `flag` where the field's name is not the option's). The old spellings of visiontk.compat are hidden aliases."""
    import dataclasses

    from visiontk.compat import OLD_OPTION_SPELLINGS

    found = {f.name: f for f in dataclasses.fields(settings_class)}
    options = [_setting_option(found[name]) for name in names]
    aliases = [click.option(old, hidden=True, expose_value=False, callback=_alias_of(name),
                            type=_setting_type(found[name]))
               for old, name in OLD_OPTION_SPELLINGS.items() if name in names]
    return stack(*options, *aliases)


def _setting_option(setting) -> Callable:
    import dataclasses

    meta = setting.metadata
    flag = meta.get("flag") or "--" + setting.name.replace("_", "-")
    default = setting.default if setting.default is not dataclasses.MISSING else setting.default_factory()
    kind = str(setting.type)
    if kind == "bool":
        return click.option(f"{flag}/--no-{flag[2:]}", setting.name, default=default, show_default=True,
                            help=meta.get("help"))
    if kind.startswith("list["):
        return click.option(flag, setting.name, multiple=True, default=default, help=meta.get("help"))
    numbered = "choices" in meta and kind.startswith("int")    # int choices are parsed as text, then numbers
    return click.option(flag, setting.name, type=_setting_type(setting), default=default,
                        show_default=default is not None and default != {}, help=meta.get("help"),
                        callback=(lambda ctx, param, value: None if value is None else int(value)) if numbered else None)


class _ChoiceOrOldValue(click.Choice):
    """A choice that also takes the setting's old values (visiontk.compat.RENAMED_VALUES), unshown, as
    the value they are now."""

    def __init__(self, name: str, choices) -> None:
        super().__init__(choices)
        self.setting = name

    def convert(self, value, param, ctx):
        from visiontk.compat import renamed_value

        return super().convert(renamed_value(self.setting, value), param, ctx)


def _setting_type(setting) -> click.ParamType:
    meta, kind = setting.metadata, str(setting.type).replace(" | None", "")
    if "choices" in meta:
        return _ChoiceOrOldValue(setting.name, [str(c) for c in meta["choices"]])
    if kind == "int":
        return click.IntRange(min=meta.get("min"), max=meta.get("max"))
    if kind == "float":
        return FiniteFloatRange(min=meta.get("min"), max=meta.get("max"), min_open=meta.get("min_open", False))
    if kind == "dict":
        return JsonObject()
    return click.STRING


class JsonObject(click.ParamType):
    """A JSON object given on the command line, e.g. '{"blur_prob": 0.1}'."""
    name = "JSON"

    def convert(self, value, param, ctx):
        import json

        if isinstance(value, dict):
            return value
        try:
            parsed = json.loads(value)
        except ValueError as exc:
            self.fail(f"{value!r} is not JSON ({exc})", param, ctx)
        if not isinstance(parsed, dict):
            self.fail(f"{value!r} is not a JSON object ({{...}})", param, ctx)
        return parsed


def _alias_of(name: str) -> Callable:
    """The callback of a hidden old spelling: it stands for option `name` (training_settings applies it)."""
    def store(ctx: click.Context, param: click.Parameter, value) -> None:
        if value is not None:
            ctx.meta.setdefault("visiontk.aliases", {})[name] = value
    return store


def training_settings(ctx: click.Context, settings: dict) -> tuple[dict, list[str]]:
    """A `TASK train` command's settings and the names the user typed (`given`): on a resumed run the
    given ones replace the run's where they may change and are refused where they may not
    (visiontk.training.prepare_run). The global `visiontk --seed N` sets the run's seed."""
    from visiontk.runtime import settings as runtime_settings

    given = [name for name in settings
             if ctx.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE]
    settings = dict(settings)
    for name, value in ctx.meta.get("visiontk.aliases", {}).items():   # an old spelling (the new one wins)
        if name not in given:
            settings[name], given = value, [*given, name]
    if runtime_settings.seed is not None:
        settings["seed"], given = runtime_settings.seed, [*given, "seed"]
    return settings, given


def progress_reporter(run_dir: Path, as_json: bool) -> Callable[[dict], None]:
    """The `on_progress` of a `TASK train` command: one JSON line per logged row with --json."""
    def report(row: dict) -> None:
        if as_json:
            emit({"input": str(run_dir), "ok": True, **row}, True)
    return report
