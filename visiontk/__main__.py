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
        sys.exit(interrupt.EXIT_INTERRUPTED)
    cli_main()


if __name__ == "__main__":
    main()
