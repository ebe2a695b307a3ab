import sys

from visiontk import interrupt

interrupt.install()  # before the imports below: SIGTERM while visiontk starts up exits 130 too
try:
    from visiontk.cli.main import main
except KeyboardInterrupt:
    sys.stderr.write("visiontk: interrupted\n")
    sys.exit(interrupt.EXIT_INTERRUPTED)

main()
