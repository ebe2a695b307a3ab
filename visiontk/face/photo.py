"""Faces in one photo, as `face detect` and `face identify` report them: the photo twins of
detect_video and identify_video (one input, one record, optional drawn picture and chips)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from visiontk.face.detect import DEFAULT_MIN_CONFIDENCE, DEFAULT_MIN_FACE
from visiontk.face.draw import KNOWN_COLOUR, UNKNOWN_COLOUR, draw_faces
from visiontk.imageio import write_image
from visiontk.atomic import check_output


def detect_photo(source: str | Path | np.ndarray, *, draw: str | Path | None = None,
                 crops: str | Path | None = None, min_confidence: float = DEFAULT_MIN_CONFIDENCE,
                 min_face: int = DEFAULT_MIN_FACE, overwrite: bool = False, stem: str = "image") -> dict:
    """{faces: [{box, confidence, landmarks}]}; with `draw` the photo with its faces drawn is written
    there, with `crops` each face's aligned chip goes into that folder as STEM_faceN.png. Every output
    is checked before any is written."""
    from visiontk.face.align import align, to_uint8
    from visiontk.face.detect import detect_faces
    from visiontk.face.recognize import load_image

    if draw is not None:
        check_output(Path(draw), overwrite)
    image = load_image(source)
    stem = Path(source).stem if not isinstance(source, np.ndarray) else stem
    faces = detect_faces(image, min_confidence=min_confidence, min_face=min_face)
    chips = [Path(crops) / f"{stem}_face{i}.png" for i in range(len(faces))] if crops is not None else []
    for chip in chips:
        check_output(chip, overwrite)
    record: dict = {"faces": [face.to_dict() for face in faces]}
    if draw is not None:
        write_image(Path(draw), draw_faces(image, faces), overwrite=overwrite)
        record["drawn"] = str(draw)
    if crops is not None:
        for chip, face in zip(chips, faces):
            write_image(chip, to_uint8(align(image, face.landmarks)), overwrite=overwrite)
        record["crops"] = [str(chip) for chip in chips]
    return record


def identify_photo(source: str | Path | np.ndarray, gallery, model, *, max_distance: float | None = None,
                   draw: str | Path | None = None, min_confidence: float = DEFAULT_MIN_CONFIDENCE,
                   min_face: int = DEFAULT_MIN_FACE, overwrite: bool = False) -> dict:
    """{faces: [{box, name, distance, nearest}]}: each face named from `gallery` (UNKNOWN beyond
    `max_distance`, default the model's); with `draw` the named faces are drawn into that picture."""
    from visiontk.face.gallery import UNKNOWN
    from visiontk.face.recognize import embed_faces, load_image

    max_distance = model.max_distance if max_distance is None else max_distance
    if draw is not None:
        check_output(Path(draw), overwrite)
    image = load_image(source)
    found = embed_faces(image, model=model, min_confidence=min_confidence, min_face=min_face)
    matches = gallery.identify_many(np.array([item.embedding for item in found]), max_distance) if found else []
    record: dict = {"faces": [item.match_record(match) for item, match in zip(found, matches)]}
    if draw is not None:
        labels = [m.name if m.name == UNKNOWN else f"{m.name} {m.distance:.2f}" for m in matches]
        colours = [UNKNOWN_COLOUR if m.name == UNKNOWN else KNOWN_COLOUR for m in matches]
        write_image(Path(draw), draw_faces(image, [item.face for item in found], labels, colours),
                    overwrite=overwrite)
        record["drawn"] = str(draw)
    return record
