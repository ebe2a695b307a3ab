"""`python -m visiontk` and the `visiontk` console script."""
import sys

from visiontk import interrupt


def main() -> None:
    # Before the imports below (numpy, click, then TensorFlow in the command): SIGTERM while visiontk
    # starts up exits 130 too.
    interrupt.install()
    try:
        from visiontk.cli.main import main as cli_main
    except KeyboardInterrupt:
        sys.stderr.write("visiontk: interrupted\n")
        interrupt.exit_interrupted()
    try:
        cli_main()
    except SystemExit as exc:
        if exc.code == interrupt.EXIT_INTERRUPTED:
            interrupt.exit_interrupted()
        raise


if __name__ == "__main__":
    main()
