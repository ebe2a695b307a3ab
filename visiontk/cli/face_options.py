"""The options the `visiontk face` commands share: the detector's and the embedder's settings, galleries,
video sampling."""
from __future__ import annotations

from pathlib import Path

import click

from visiontk.cli.common import FiniteFloatRange, OldNameOption, stack
from visiontk.compat import FACE_OLD_OPTIONS
from visiontk.face import DEFAULT_MAX_DISTANCE, DEFAULT_MIN_CONFIDENCE, DEFAULT_MIN_FACE, FULL_EVERY


def renamed_option(option: str, command: str, dest: str, **settings):
    """`option`, also accepted under the old spelling `command` had for it (visiontk.compat), unshown."""
    spellings = FACE_OLD_OPTIONS[option]
    old = spellings.get(command, spellings.get("*"))
    return click.option(option, *([old] if old else []), dest, cls=OldNameOption, **settings)


def min_confidence_option(command: str):
    return renamed_option("--min-confidence", command, "min_confidence", type=FiniteFloatRange(0, 1),
                          default=DEFAULT_MIN_CONFIDENCE, show_default=True,
                          help="O-Net confidence a detection needs to count as a face.")


def max_distance_option(command: str):
    return renamed_option("--max-distance", command, "max_distance", type=FiniteFloatRange(min=0),
                          default=None, help="Same person when the embedding distance is at most this "
                               f"[default: the model's, {DEFAULT_MAX_DISTANCE:g} for dlib's].")


model_option = click.option("--model", "model_path", type=click.Path(dir_okay=False, path_type=Path),
                            help="A .keras model from `face train` (default: dlib's pretrained ResNet).")
min_face_option = click.option("--min-face", type=click.IntRange(min=4), default=DEFAULT_MIN_FACE,
                               show_default=True, help="Smallest face to look for, in pixels.")
pairs_root_option = click.option(
    "--root", type=click.Path(file_okay=False, path_type=Path),
    help="Folder the pairs' paths are relative to [default: the pairs file's folder].")
# The embedding network and the detector's settings, which every command that embeds faces takes.
embedder_options = stack(model_option, min_confidence_option("*"), min_face_option)
face_index_option = click.option("--face", "face_index", type=click.IntRange(min=0), default=0,
                                 show_default=True,
                                 help="Which face when there are several: 0 = the largest, 1 = the next...")
gallery_option = click.option("--gallery", "gallery_path", required=True,
                              type=click.Path(dir_okay=False, path_type=Path),
                              help="The gallery file (.npz or .json); enroll creates it.")
every_option = stack(
    click.option("--every", type=click.IntRange(min=1), default=1, show_default=True,
                 help="Video clips: analyse every Nth frame (a drawn clip keeps the last boxes)."),
    click.option("--search-every", "search_every", type=click.IntRange(min=1), default=FULL_EVERY,
                 show_default=True,
                 help="Video clips: search the whole frame every Nth analysed frame and follow the faces "
                      "found in between (1: search every analysed frame)."))

