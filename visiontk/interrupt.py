"""SIGTERM as an interruption (exit 130, like Ctrl-C) from the first moment visiontk runs.

Installed before anything heavy is imported, so that a scheduler's SIGTERM while TensorFlow loads ends
the run with the documented code rather than 143. The handler raises KeyboardInterrupt, which the CLI
turns into exit 130; Python drops an exception raised where it can't propagate (say, inside an import
lock's callback), so the handler also records the signal (the CLI checks it when the command returns)
and, should the run go on anyway, ends the process after a grace period.
"""
from __future__ import annotations

import atexit
import os
import signal
import sys
import threading

GRACE_SECONDS = 10.0
EXIT_INTERRUPTED = 130

received = False


def _handle(signum, frame) -> None:
    global received
    if not received:
        received = True
        timer = threading.Timer(GRACE_SECONDS, _force_exit)
        timer.daemon = True
        timer.start()
    raise KeyboardInterrupt


def _force_exit() -> None:
    os.write(2, b"visiontk: interrupted\n")
    os._exit(EXIT_INTERRUPTED)


def exit_interrupted() -> None:
    """End the process with exit code 130 once an interruption has been reported.

    CPython (3.11) remembers a KeyboardInterrupt that escaped any `exec` or `eval` of a string (the
    dataclasses and namedtuples being built while a module imports) and then ends the process by
    SIGINT, whatever exit code the program chose: a signal that lands there would turn the documented
    130 into "killed by SIGINT". So the exit code is given to the OS directly, after the atexit handlers
    and with the standard streams flushed."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing more can be said there
            pass
    atexit._run_exitfuncs()
    os._exit(EXIT_INTERRUPTED)


def _quiet_dropped_interrupt(unraisable) -> None:
    # A KeyboardInterrupt Python had to drop (raised inside an import lock's callback, say) is the
    # interruption already recorded above: the one-line message comes later, not a traceback now.
    if received and issubclass(unraisable.exc_type, KeyboardInterrupt):
        return
    sys.__unraisablehook__(unraisable)


def install() -> None:
    """Treat SIGTERM like Ctrl-C (a command's GracefulStop replaces this while it works)."""
    sys.unraisablehook = _quiet_dropped_interrupt
    signal.signal(signal.SIGTERM, _handle)
