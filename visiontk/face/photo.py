"""Faces in photos, as the `face` commands report them: `detect_photo` and `identify_photo`, the photo
twins of detect_video and identify_video (one input, one record, optional drawn picture and chips);
`embed_photo`, what `face embed` keeps of a photo; and `Clustering`/`cluster_photos`, the `face cluster`
job (group the faces of many photos, draw them, enrol the groups)."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from visiontk.face.detect import DEFAULT_MIN_CONFIDENCE, DEFAULT_MIN_FACE
from visiontk.face.draw import KNOWN_COLOUR, UNKNOWN_COLOUR, draw_faces
from visiontk.imageio import write_image
from visiontk.atomic import check_output

if TYPE_CHECKING:
    from visiontk.face.recognize import FaceEmbedding


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


def embed_photo(source: str | Path | np.ndarray, model=None, *, all_faces: bool = False, face_index: int = 0,
                min_confidence: float = DEFAULT_MIN_CONFIDENCE,
                min_face: int = DEFAULT_MIN_FACE) -> list[tuple[int, FaceEmbedding]]:
    """What `face embed` keeps of a photo: its face number `face_index` (0 = the largest) or, with
    `all_faces`, every face, each as (its number, FaceEmbedding). NoFaceError when there is none."""
    from visiontk.errors import NoFaceError
    from visiontk.face.recognize import embed, embed_faces

    options = {"model": model, "min_confidence": min_confidence, "min_face": min_face}
    if not all_faces:
        return [(face_index, embed(source, face_index=face_index, **options))]
    found = embed_faces(source, **options)
    if not found:
        raise NoFaceError(f"{source if not isinstance(source, np.ndarray) else 'image'}: no face found")
    return list(enumerate(found))


class Clustering:
    """`face cluster` as a library job. Its outputs are checked first (the `sheet` picture, the gallery
    `enroll_into`); photos are added one at a time (`add`: a caller may report a bad one and go on); then
    `finish` groups the faces (see face.cluster), draws the sheet and enrols the clusters named in
    `names` ({cluster: name}; every cluster as cluster-N when None) into the gallery."""

    def __init__(self, *, model=None, max_distance: float | None = None, min_size: int = 1,
                 min_confidence: float = DEFAULT_MIN_CONFIDENCE, min_face: int = DEFAULT_MIN_FACE,
                 sheet: str | Path | None = None, enroll_into: str | Path | None = None,
                 names: dict[int, str] | None = None, overwrite: bool = False):
        from visiontk.errors import UsageError
        from visiontk.face.cluster import FaceClusters
        from visiontk.face.gallery import Gallery
        from visiontk.face.model import load_model

        if names and enroll_into is None:
            raise UsageError("`names` say whom to enrol: give the gallery to enrol them into (`enroll_into`) too")
        if sheet is not None:
            check_output(Path(sheet), overwrite)
        model = load_model(model)
        if enroll_into is not None:   # refuse a wrong or damaged gallery before the work
            Gallery.load(Gallery.check_path(Path(enroll_into)), model=model.name, size=model.embedding_size)
        self.found = FaceClusters(model, min_confidence, min_face, keep_chips=sheet is not None)
        self.max_distance, self.min_size = max_distance, min_size
        self.sheet, self.enroll_into, self.names, self.overwrite = sheet, enroll_into, names, overwrite
        self.inputs = 0

    def add(self, photo: str | Path | np.ndarray) -> int:
        """Detect and embed every face of a photo; returns how many."""
        self.inputs += 1
        return self.found.add_photo(photo)

    def finish(self) -> dict:
        """{faces: each face with its .cluster, groups: {cluster: faces} (noise last), sheet: the picture
        written or None, enrolled: (faces, clusters) enrolled or None}. NoFaceError when no photo had one."""
        from visiontk.errors import NoFaceError

        if not self.found.faces:
            raise NoFaceError(f"no face found in {self.inputs} input(s)")
        self.found.cluster(self.max_distance, self.min_size)
        if self.sheet is not None:
            write_image(Path(self.sheet), self.found.sheet(), overwrite=self.overwrite)
        enrolled = self.found.enroll(self.enroll_into, self.names) if self.enroll_into is not None else None
        return {"faces": self.found.faces, "groups": self.found.groups(), "sheet": self.sheet,
                "enrolled": enrolled}


def describe_groups(groups: dict) -> str:
    """The text a person reads for `Clustering.finish`'s groups: one line per cluster, noise last."""
    from visiontk.face.cluster import NOISE

    def listed(members) -> str:
        return ", ".join(Path(f.source).name + (f" (face {f.index})" if f.index else "") for f in members)

    return "\n".join(f"{'noise' if cluster == NOISE else f'cluster {cluster}'}: {len(members)} face(s): "
                     f"{listed(members)}" for cluster, members in groups.items())


def cluster_photos(photos, **options) -> dict:
    """Every face of `photos` grouped into people, with the sheet and enrolment of `Clustering(**options)`;
    the first photo that can't be read stops it."""
    job = Clustering(**options)
    for photo in photos:
        job.add(photo)
    return job.finish()
