"""The `visiontk` command: global options, sub-command registration and the exit-code mapping.

Exit codes (documented in README): 0 success, 1 a negative answer from a predicate command, 2 usage
error, 3 bad input, 4 weights missing or invalid, 5 a batch finished with failures, 70 internal error
(a bug), 130 interrupted.
"""
from __future__ import annotations

import importlib
import logging
import sys
import traceback

import click

from visiontk import __version__, runtime
from visiontk.errors import VisiontkError

EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130
COMMAND_MODULES = ("stylize", "face", "gan", "sr", "models")

_verbosity = 0


class VisiontkGroup(click.Group):
    """A Click group whose `main` turns every exception into a one-line message and an exit code."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
            code = result if isinstance(result, int) else 0
        except click.ClickException as exc:
            exc.show()
            code = exc.exit_code
        except (click.Abort, KeyboardInterrupt):
            click.echo("visiontk: interrupted", err=True)
            code = EXIT_INTERRUPTED
        except VisiontkError as exc:
            _report(str(exc))
            code = exc.exit_code
        except Exception as exc:  # a bug: still one line unless -v
            _report(f"internal error: {type(exc).__name__}: {exc} (please report it; -v shows the traceback)")
            code = EXIT_INTERNAL
        if standalone_mode:
            sys.exit(code)
        return code


def _report(message: str) -> None:
    if _verbosity > 0:
        traceback.print_exc(file=sys.stderr)
    click.echo(f"visiontk: error: {message}", err=True)


@click.group(cls=VisiontkGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="visiontk")
@click.option("-v", "--verbose", count=True, help="More log output; -v also shows tracebacks.")
@click.option("-q", "--quiet", is_flag=True, help="Only results and errors; no progress bars.")
@click.option("--device", type=click.Choice(["auto", "cpu", "gpu"]), default="auto", show_default=True,
              help="Where TensorFlow runs.")
@click.option("--seed", type=int, default=None, help="Seed every random generator, for repeatable runs.")
@click.option("--mixed-precision", is_flag=True, help="Compute in float16 on a GPU (ignored on a CPU).")
def cli(verbose: int, quiet: bool, device: str, seed: int | None, mixed_precision: bool) -> None:
    """visiontk: neural style transfer, face recognition, DCGAN and EDSR super-resolution."""
    global _verbosity
    _verbosity = verbose
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else
                                           logging.INFO if verbose else logging.WARNING)
    logging.basicConfig(level=level, format="visiontk: %(message)s", stream=sys.stderr)
    runtime.configure(device=device, seed=seed, quiet=quiet, mixed_precision=mixed_precision)


def _register_commands() -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"visiontk.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"visiontk.cli.{name}":
                continue  # that task isn't built yet
            raise
        cli.add_command(module.command)


_register_commands()


def main() -> None:
    cli.main(prog_name="visiontk")


if __name__ == "__main__":
    main()
