"""One input file, a photo or a video clip, to the record `face detect` or `face identify` prints: these
verbs decide photo or clip, so that a caller (the CLI, a script over a folder) does not have to. The
`describe_*` functions give a record's text (as describe_summary does a clip's)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from visiontk.face.detect import DEFAULT_MIN_CONFIDENCE, DEFAULT_MIN_FACE
from visiontk.face.video import FULL_EVERY, describe_summary
from visiontk.videoio import is_video

PathLike = str | Path


def drawn_path(draw: PathLike, source: PathLike, *, many: bool, suffix: str) -> Path:
    """Where the drawn copy of `source` goes: `draw` itself for one input; for several inputs (`many`), or
    when `draw` is a folder, DRAW/STEM+suffix.png (.mp4 for a clip)."""
    draw, source = Path(draw), Path(source)
    if many or draw.is_dir():
        return draw / f"{source.stem}{suffix}{'.mp4' if is_video(source) else '.png'}"
    return draw


def detect_file(source: PathLike, *, draw: PathLike | None = None, crops: PathLike | None = None,
                every: int = 1, full_every: int = FULL_EVERY, min_confidence: float = DEFAULT_MIN_CONFIDENCE,
                min_face: int = DEFAULT_MIN_FACE, crf: int | None = None, overwrite: bool = False,
                on_frame: Callable[[dict], None] | None = None) -> dict:
    """The faces of a photo (detect_photo: `crops` too) or of every `every`th frame of a clip
    (detect_video: `on_frame` gets each analysed frame, the whole frame searched every `full_every`th)."""
    from visiontk.face.photo import detect_photo
    from visiontk.face.video import detect_video

    options = {"draw": draw, "min_confidence": min_confidence, "min_face": min_face, "overwrite": overwrite}
    if is_video(source):
        return detect_video(source, every=every, full_every=full_every, crf=crf, on_frame=on_frame, **options)
    return detect_photo(source, crops=crops, **options)


def identify_file(source: PathLike, gallery, model, *, max_distance: float | None = None,
                  draw: PathLike | None = None, every: int = 1, full_every: int = FULL_EVERY,
                  min_confidence: float = DEFAULT_MIN_CONFIDENCE, min_face: int = DEFAULT_MIN_FACE,
                  crf: int | None = None, overwrite: bool = False,
                  on_frame: Callable[[dict], None] | None = None) -> dict:
    """Every face of a photo (identify_photo) or of every `every`th frame of a clip (identify_video) named
    from `gallery` (a Gallery of `model`'s embeddings; unknown beyond `max_distance`, default the model's)."""
    from visiontk.face.photo import identify_photo
    from visiontk.face.video import identify_video

    options = {"max_distance": max_distance, "draw": draw, "min_confidence": min_confidence,
               "min_face": min_face, "overwrite": overwrite}
    if is_video(source):
        return identify_video(source, gallery, model, every=every, full_every=full_every, crf=crf,
                              on_frame=on_frame, **options)
    return identify_photo(source, gallery, model, **options)


def describe_faces(record: dict) -> str:
    """The text a person reads for a `detect_file` record: a clip's summary, or a photo's faces."""
    if "appearances" in record:
        return describe_summary(record)
    return "\n".join([f"{record['input']}: {len(record['faces'])} face(s)"] + [
        f"  face {i}: box ({', '.join(f'{v:.0f}' for v in face['box'])}) confidence {face['confidence']:.3f}"
        for i, face in enumerate(record["faces"])])


def describe_names(record: dict) -> str:
    """The text a person reads for an `identify_file` record: a clip's summary, or who is in a photo."""
    if "appearances" in record:
        return describe_summary(record)
    names = ", ".join(f"{face['name']} ({face['distance']:.3f})" for face in record["faces"])
    return f"{record['input']}: {names or 'no faces'}"
