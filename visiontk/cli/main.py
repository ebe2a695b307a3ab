"""The `visiontk` command: global options, sub-command registration and the exit-code mapping.

Exit codes (documented in README): 0 success, 1 a negative answer from a predicate command, 2 usage
error, 3 bad input, 4 weights missing or invalid, 5 a batch finished with failures, 70 internal error
(a bug), 130 interrupted.
"""
from __future__ import annotations

import functools
import importlib
import logging
import os
import sys
import traceback
from typing import Iterator

import click

from visiontk import __version__, interrupt, runtime
from visiontk.cli.common import command_line_message
from visiontk.errors import VisiontkError, from_memory_error, from_os_error

EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130
COMMAND_MODULES = ("stylize", "face", "gan", "sr", "similar", "models", "serve")

_verbosity = 0
_quiet = False
_running: click.Context | None = None   # the command whose flags an error names (command_line_message)


class VisiontkGroup(click.Group):
    """A Click group whose `main` turns every exception into a one-line message and an exit code."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        global _running
        _running = None
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
            code = result if isinstance(result, int) else 0
            if interrupt.received:  # the interruption was raised where Python had to drop it
                raise KeyboardInterrupt
        except click.exceptions.NoArgsIsHelpError as exc:
            exc.show()
            code = exc.exit_code
        except click.UsageError as exc:
            hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx is not None else ""
            click.echo(f"visiontk: error: {exc.format_message()}{hint}", err=True)
            code = exc.exit_code
        except click.ClickException as exc:
            click.echo(f"visiontk: error: {exc.format_message()}", err=True)
            code = exc.exit_code
        except (click.Abort, KeyboardInterrupt):
            click.echo("visiontk: interrupted", err=True)
            code = EXIT_INTERRUPTED
        except VisiontkError as exc:   # the library's words, with the running command's flags
            _report(command_line_message(exc, _running))
            code = exc.exit_code
        except OSError as exc:
            if exc.errno is None:  # not the file system speaking: a bug
                code = _internal(exc)
            else:  # the user's disk or paths (read-only, full, a file where a folder should be)
                error = from_os_error(exc)
                _report(str(error))
                code = error.exit_code
        except MemoryError:
            error = from_memory_error()
            _report(str(error))
            code = error.exit_code
        except Exception as exc:
            if _out_of_device_memory(exc):
                error = from_memory_error()
                _report(str(error))
                code = error.exit_code
            else:  # a bug: still one line unless -v
                code = _internal(exc)
        if standalone_mode:
            sys.exit(code)
        return code


def _out_of_device_memory(exc: Exception) -> bool:
    """TensorFlow's out-of-memory error (not a MemoryError), checked without importing TensorFlow."""
    tf = sys.modules.get("tensorflow")
    return tf is not None and isinstance(exc, tf.errors.ResourceExhaustedError)


def _internal(exc: BaseException) -> int:
    _report(f"internal error: {type(exc).__name__}: {exc} (please report it; -v shows the traceback)")
    return EXIT_INTERNAL


def _report(message: str) -> None:
    if _verbosity > 0:
        traceback.print_exc(file=sys.stderr)
    click.echo(f"visiontk: error: {message}", err=True)


@click.group(cls=VisiontkGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="visiontk")
@click.option("-v", "--verbose", count=True,
              help="More log output; -v also shows tracebacks. Also accepted after the command.")
@click.option("-q", "--quiet", is_flag=True,
              help="Only results and errors; no progress bars. Also accepted after the command.")
@click.option("--json", "as_json", is_flag=True,
              help="JSON lines output, for commands that have --json (also accepted after the command).")
@click.option("--offline", is_flag=True,
              help="Never download weights on first use (same as VISIONTK_OFFLINE=1).")
@click.option("--device", type=click.Choice(["auto", "cpu", "gpu"]), default="auto", show_default=True,
              help="Where TensorFlow runs.")
@click.option("--seed", type=click.IntRange(min=0), default=None,
              help="Seed every random generator, for repeatable runs.")
@click.option("--mixed-precision", is_flag=True, help="Compute in float16 on a GPU (ignored on a CPU).")
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: bool, as_json: bool, offline: bool, device: str,
        seed: int | None, mixed_precision: bool) -> None:
    """visiontk: neural style transfer, face recognition, DCGAN and EDSR super-resolution."""
    global _verbosity, _quiet, _running
    _running = ctx   # until the command starts: an error here names the global options
    _verbosity, _quiet = 0, False  # a fresh start for each invocation (tests run many in one process)
    runtime.settings.seed = None  # likewise: a --seed given to an earlier invocation must not stick
    _set_output(verbose=verbose, quiet=quiet)
    if offline:
        os.environ["VISIONTK_OFFLINE"] = "1"
    if as_json:  # the default of every command's own --json
        ctx.default_map = _json_defaults(cli)
    runtime.configure(device=device, seed=seed, quiet=quiet, mixed_precision=mixed_precision)


def _set_output(verbose: int = 0, quiet: bool = False) -> None:
    """Apply -v/-q, from before the command (the group) or after it (each command's copy)."""
    global _verbosity, _quiet
    _verbosity = max(_verbosity, verbose)
    _quiet = _quiet or quiet
    level = logging.WARNING if _quiet else (logging.DEBUG if _verbosity > 1 else
                                            logging.INFO if _verbosity else logging.WARNING)
    logging.basicConfig(level=level, format="visiontk: %(message)s", stream=sys.stderr)
    logging.getLogger().setLevel(level)
    if _quiet:
        runtime.configure(quiet=True)


def _json_defaults(group: click.Group) -> dict:
    """A Click default_map giving `as_json=True` to every command under `group` that has --json."""
    defaults: dict = {}
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            defaults[name] = _json_defaults(command)
        elif any(param.name == "as_json" for param in command.params):
            defaults[name] = {"as_json": True}
    return defaults


def _late_verbose(ctx: click.Context, param: click.Parameter, value: int) -> None:
    if value:
        _set_output(verbose=value)


def _late_quiet(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        _set_output(quiet=True)


def _leaves(group: click.Group) -> Iterator[click.Command]:
    for command in group.commands.values():
        if isinstance(command, click.Group):
            yield from _leaves(command)
        else:
            yield command


def _add_late_options(command: click.Command) -> None:
    """Shell users put -q and -v after the command (`visiontk sr upscale x.png -q`): accept them there."""
    taken = {opt for param in command.params for opt in getattr(param, "opts", [])}
    if not taken & {"-v", "--verbose"}:
        command.params.append(click.Option(["-v", "--verbose"], count=True, expose_value=False,
                                           callback=_late_verbose, hidden=True))
    if not taken & {"-q", "--quiet"}:
        command.params.append(click.Option(["-q", "--quiet"], is_flag=True, expose_value=False,
                                           callback=_late_quiet, hidden=True))


def _in_command_terms(command: click.Command) -> None:
    """Let the error handler speak of `command`'s own options (command_line_message): it remembers
    the command running, whose context is gone by the time an error reaches the handler."""
    callback = command.callback
    if callback is None:
        return

    @functools.wraps(callback)
    def run(*args, **kwargs):
        global _running
        _running = click.get_current_context()
        return callback(*args, **kwargs)

    command.callback = run


def _register_commands() -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"visiontk.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"visiontk.cli.{name}":
                continue  # that task isn't built yet
            raise
        cli.add_command(module.command)
    for command in _leaves(cli):
        _add_late_options(command)
        _in_command_terms(command)


_register_commands()


def main() -> None:
    interrupt.install()  # also for the console script, which imports this module first
    try:
        cli.main(prog_name="visiontk")
    except KeyboardInterrupt:  # a signal between the command's end and the exit
        sys.exit(EXIT_INTERRUPTED)


if __name__ == "__main__":
    main()
