"""The `visiontk` command line: main.py holds the group and its global options, one module per task."""
