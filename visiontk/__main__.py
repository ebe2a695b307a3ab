import signal


def _interrupt(signum, frame):
    raise KeyboardInterrupt


# Before the imports below: SIGTERM while visiontk starts up is an interruption (exit 130), too.
signal.signal(signal.SIGTERM, _interrupt)

from visiontk.cli.main import main  # noqa: E402

main()
