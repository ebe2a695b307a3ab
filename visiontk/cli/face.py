"""`visiontk face`: detect, verify, embed, enroll, identify, cluster, gallery, train, export, eval."""
from __future__ import annotations

from pathlib import Path

import click

from visiontk.cli.common import (FiniteFloatRange, batch_options, continue_option, emit, input_paths,
                                 inputs_argument, json_option, overwrite_option, run_batch, shard_option,
                                 this_shard)
from visiontk.cli.face_model import evaluate, export, train
from visiontk.cli.face_options import (embedder_options, every_option, face_index_option, gallery_option,
                                       max_distance_option, min_confidence_option, min_face_option,
                                       pairs_root_option)
from visiontk.errors import BatchFailedError
from visiontk.face import DEFAULT_CLUSTER_DISTANCE, DEFAULT_MIN_CLUSTER_FACE


def _frame_lines(path: Path, as_json: bool):
    """With --json a clip prints one line per analysed frame before its summary; text shows the summary."""
    return (lambda record: emit({"input": str(path), "ok": True, **record}, True)) if as_json else None


def _each_file(inputs, draw: Path | None, suffix: str, verb, describe, as_json: bool, continue_on_error: bool,
               **options) -> int:
    """`face detect`/`identify`: `verb(path, draw=..., on_frame=..., **options)` on each photo or clip, its
    record printed; --draw names a file for one input, a folder for several (drawn_path)."""
    from visiontk.face import drawn_path

    paths = input_paths(inputs)
    many = len(paths) > 1  # of the whole batch: --draw means the same in every shard

    def work(path: Path) -> dict:
        return verb(path, draw=draw and drawn_path(draw, path, many=many, suffix=suffix),
                    on_frame=_frame_lines(path, as_json), **options)

    return run_batch(this_shard(paths), work, as_json=as_json, continue_on_error=continue_on_error,
                     describe=describe)


def _run_and_keep(paths: list[Path], work, keep, **batch) -> int:
    """run_batch, then `keep()` what the inputs gave: after a batch that ran through, and after one that
    ended in failures under --continue-on-error (still exit 5), but never after a failure that stopped it
    (the output stays as it was)."""
    try:
        code = run_batch(paths, work, **batch)
    except BatchFailedError:
        keep()
        raise
    keep()
    return code


@click.group("face")
def command() -> None:
    """Face detection (MTCNN), verification and recognition (dlib's face ResNet, rebuilt in Keras).

    \b
      visiontk face verify obama_1.jpg obama_2.jpg        # same person? exit 0 yes, 1 no
      visiontk face detect group.jpg --draw faces.png
      visiontk face enroll --gallery people.npz obama obama_*.jpg
      visiontk face identify --gallery people.npz group.jpg --draw named.png
    """


@command.command()
@inputs_argument
@click.option("--draw", type=click.Path(path_type=Path),
              help="Save the image with boxes and landmarks drawn (a folder when there are several inputs).")
@click.option("--crops", type=click.Path(file_okay=False, path_type=Path),
              help="Save each face's aligned 150x150 chip in this folder (NAME_face0.png, ...).")
@min_face_option
@min_confidence_option("detect")
@every_option
@batch_options(skip_existing=False)
def detect(inputs, draw, crops, min_face, min_confidence, every, search_every, crf, overwrite, as_json,
           continue_on_error) -> int:
    """Find faces: boxes (left, top, right, bottom), confidence and five landmarks.

    An image without faces is not an error here: it reports 0 faces. A video clip reports each
    analysed frame (with --json), draws into a clip (--draw out.mp4) and sums up when faces appear.
    """
    from visiontk.face import describe_faces, detect_file

    return _each_file(inputs, draw, "_faces", detect_file, describe_faces, as_json, continue_on_error,
                      crops=crops, every=every, full_every=search_every, min_confidence=min_confidence,
                      min_face=min_face, crf=crf, overwrite=overwrite)


@command.command()
@click.argument("images", nargs=-1, type=click.Path(path_type=Path))
@click.option("--pairs", "pairs_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Verify many pairs: a CSV of two image paths per line (optional third column same "
                   "yes/no) or LFW's pairs.txt. One result per pair.")
@pairs_root_option
@max_distance_option("verify")
@face_index_option
@embedder_options
@json_option
def verify(images, pairs_file, root, max_distance, face_index, model_path, min_confidence, min_face,
           as_json) -> int:
    """Are the faces in two images the same person? Exit 0 same, 1 different, 3 no face.

    \b
      visiontk face verify obama_1.jpg obama_2.jpg
      visiontk face verify --pairs pairs.csv --json
    """
    from visiontk.face import load_model
    from visiontk.face import verify as verify_faces

    if pairs_file:
        if images:
            raise click.UsageError("give either two images or --pairs, not both")
        return _verify_pairs(pairs_file, root, max_distance, model_path, min_confidence, min_face, as_json)
    if len(images) != 2:
        raise click.UsageError("give two images to compare (or --pairs FILE)")
    result = verify_faces(images[0], images[1], model=load_model(model_path), max_distance=max_distance,
                          face_index=face_index, min_confidence=min_confidence, min_face=min_face)
    answer = "same person" if result.same else "different people"
    emit({"a": str(images[0]), "b": str(images[1]), **result.to_dict()}, as_json,
         f"{answer} (distance {result.distance:.3f}, threshold {result.max_distance:g})")
    return 0 if result.same else 1


def _verify_pairs(pairs_file, root, max_distance, model_path, min_confidence, min_face, as_json) -> int:
    from visiontk.cli.common import report_failure
    from visiontk.face import PairsSummary, load_model
    from visiontk.face.evaluate import read_pairs, verify_pairs

    pairs = read_pairs(pairs_file, root)
    failures, summary = 0, PairsSummary()
    for verdict in verify_pairs(pairs, model=load_model(model_path), max_distance=max_distance,
                                min_confidence=min_confidence, min_face=min_face):
        pair = verdict.pair
        if verdict.error:
            report_failure(Path(f"{pair.a} {pair.b}"), verdict.error, as_json)
            failures += 1
            continue
        record = summary.add(verdict)
        emit(record, as_json, f"{pair.a} {pair.b}: {'same' if record['same'] else 'different'} "
                              f"({verdict.distance:.3f})")
    if summary.text():
        click.echo(summary.text(), err=True)
    if failures:
        raise BatchFailedError(f"{failures} of {len(pairs)} pairs had an image without a face")
    return 0


@command.command()
@inputs_argument
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the embeddings to this .npz (paths, embeddings, boxes).")
@click.option("--all-faces", is_flag=True, help="Every face of each image, not only the largest.")
@face_index_option
@embedder_options
@overwrite_option
@json_option
@continue_option
@shard_option
def embed(inputs, output, all_faces, face_index, model_path, min_confidence, min_face, overwrite, as_json,
          continue_on_error) -> int:
    """Compute face embeddings (128 numbers per face with the default model).

    \b
      visiontk face embed photos/ -o embeddings.npz
      visiontk face embed obama_1.jpg --json
    """
    from visiontk.atomic import check_output
    from visiontk.face import EmbeddingSet, embed_photo, load_model

    if output is None and not as_json:
        raise click.UsageError("say where the embeddings go: -o FILE.npz, or --json to print them")
    if output is not None:
        check_output(EmbeddingSet.check_path(output), overwrite)
    paths = this_shard(input_paths(inputs))
    model = load_model(model_path)
    rows = EmbeddingSet(model.name)

    def work(path: Path) -> dict:
        found = embed_photo(path, model, all_faces=all_faces, face_index=face_index,
                            min_confidence=min_confidence, min_face=min_face)
        for index, item in found:
            rows.add(path, index, item.embedding, item.face.box)
        return {"faces": [item.to_dict(index) for index, item in found]}

    def keep() -> None:
        if output is not None and len(rows):
            rows.save(output, overwrite)

    def describe(record: dict) -> str:
        return f"{record['input']}: {len(record['faces'])} embedding(s)"

    code = _run_and_keep(paths, work, keep, as_json=as_json, continue_on_error=continue_on_error,
                         describe=describe if output else None)
    if output is not None and not as_json:
        click.echo(f"wrote {len(rows)} embedding(s) to {output}")
    return code


@command.command()
@gallery_option
@click.argument("name")
@inputs_argument
@face_index_option
@embedder_options
@json_option
@continue_option
def enroll(gallery_path, name, inputs, face_index, model_path, min_confidence, min_face, as_json,
           continue_on_error) -> int:
    """Add a person to a gallery from photos of them (the largest face of each photo).

    \b
      visiontk face enroll --gallery people.npz obama obama_1.jpg obama_2.jpg
    """
    from visiontk.face import Enrolment

    job = Enrolment(gallery_path, name, model_path, face_index=face_index, min_confidence=min_confidence,
                    min_face=min_face)
    return _run_and_keep(input_paths(inputs), job.add, job.save, as_json=as_json,
                         continue_on_error=continue_on_error,
                         describe=lambda record: f"{record['input']}: enrolled as {record['name']}")


@command.command()
@gallery_option
@inputs_argument
@click.option("--draw", type=click.Path(path_type=Path),
              help="Save the image with each face boxed and named (a folder when there are several inputs).")
@max_distance_option("identify")
@embedder_options
@every_option
@batch_options(skip_existing=False)
def identify(gallery_path, inputs, draw, max_distance, model_path, min_confidence, min_face, every,
             search_every, crf, overwrite, as_json, continue_on_error) -> int:
    """Name every face in each image from a gallery; `unknown` when no one is close enough.

    A video clip reports each analysed frame (with --json) and sums up who appears when.

    \b
      visiontk face identify --gallery people.npz group.jpg --draw named.png
      visiontk face identify --gallery people.npz clip.mp4 --every 5 --draw named.mp4 --json
    """
    from visiontk.face import Gallery, describe_names, identify_file, load_model

    model = load_model(model_path)
    gallery = Gallery.for_model(gallery_path, model)

    def name_faces(path: Path, **options) -> dict:
        return identify_file(path, gallery, model, **options)

    return _each_file(inputs, draw, "_named", name_faces, describe_names, as_json, continue_on_error,
                      max_distance=max_distance, every=every, full_every=search_every,
                      min_confidence=min_confidence, min_face=min_face, crf=crf, overwrite=overwrite)


@command.group()
def gallery() -> None:
    """Look at or edit a gallery file."""


@gallery.command("list")
@gallery_option
@json_option
def gallery_list(gallery_path, as_json) -> int:
    """The people in a gallery and how many embeddings each has."""
    from visiontk.face import Gallery

    found = Gallery.load(gallery_path)
    people = found.people()
    text = "\n".join(f"{name}\t{count}" for name, count in sorted(people.items())) or "(empty gallery)"
    emit({"input": str(gallery_path), "gallery": str(gallery_path), "model": found.model, "people": people},
         as_json, text)
    return 0


@gallery.command("remove")
@gallery_option
@click.argument("name")
@json_option
def gallery_remove(gallery_path, name, as_json) -> int:
    """Remove a person (all their embeddings) from a gallery."""
    from visiontk.face import remove_person

    dropped = remove_person(gallery_path, name)
    emit({"input": str(gallery_path), "gallery": str(gallery_path), "removed": name, "embeddings": dropped},
         as_json, f"removed {name} ({dropped} embedding(s))")
    return 0


def _cluster_names(ctx, param, names: tuple[str, ...]) -> dict[int, str] | None:
    """--name N=NAME pairs as {N: NAME}; None means "all clusters, as cluster-N"."""
    wanted = {}
    for item in names:
        number, _, name = item.partition("=")
        if not number.strip().isdigit() or not name.strip() or name.strip() == "unknown":
            raise click.BadParameter(f"{item!r}: expected N=NAME, e.g. 0=obama", ctx, param)
        wanted[int(number)] = name.strip()
    return wanted or None


@command.command()
@inputs_argument
@click.option("--sheet", type=click.Path(dir_okay=False, path_type=Path),
              help="Save a contact sheet: one band of face chips per cluster (noise last).")
@click.option("--min-size", type=click.IntRange(min=1), default=1, show_default=True,
              help="Clusters with fewer faces are noise (cluster -1); 2 makes every lone face noise. Faces "
                   f"under {DEFAULT_MIN_CLUSTER_FACE} px tall are always left out as noise: too small to "
                   "tell two people apart.")
@click.option("--max-distance", "max_distance", type=FiniteFloatRange(min=0), default=None,
              help="Groups of faces join while on average at most this far apart [default: "
                   f"{DEFAULT_CLUSTER_DISTANCE:g} for dlib's network, the same share of another model's "
                   "same-person distance].")
@click.option("--enroll-into", "enroll_into", type=click.Path(dir_okay=False, path_type=Path),
              help="Add the clusters to this gallery (.npz or .json): those named with --name, or all "
                   "as cluster-N when no --name is given.")
@click.option("--name", "names", multiple=True, metavar="N=NAME", callback=_cluster_names,
              help="With --enroll-into: enrol cluster N as NAME (repeatable).")
@embedder_options
@overwrite_option
@json_option
@continue_option
def cluster(inputs, sheet, min_size, max_distance, enroll_into, names, model_path, min_confidence, min_face,
            overwrite, as_json, continue_on_error) -> int:
    """Group the faces of many photos into people nobody has named (average linkage).

    Every face found gets a cluster id, 0 for the largest group; with --json one line per face
    (input, face, box, cluster). Look at the --sheet, then name clusters into a gallery.

    \b
      visiontk face cluster photos/ --sheet people.png
      visiontk face cluster photos/ --json --min-size 2
      visiontk face cluster photos/ --enroll-into people.npz --name 0=obama --name 2=biden
    """
    from visiontk.face import Clustering, describe_groups

    if names and not enroll_into:
        raise click.UsageError("--name says whom to enrol: give --enroll-into GALLERY too")
    job = Clustering(model=model_path, max_distance=max_distance, min_size=min_size,
                     min_confidence=min_confidence, min_face=min_face, sheet=sheet, enroll_into=enroll_into,
                     names=names, overwrite=overwrite)
    def work(path: Path) -> None:
        job.add(path)   # nothing to print per photo: the faces are listed once clustered

    failed = None
    try:
        run_batch(input_paths(inputs), work, as_json=as_json, continue_on_error=continue_on_error)
    except BatchFailedError as exc:
        failed = exc   # --continue-on-error: cluster the faces that were read, then exit 5
    if failed and not job.found.faces:
        raise failed
    result = job.finish()
    for face in result["faces"]:
        emit({**face.to_dict(), "ok": True}, as_json)
    if not as_json:
        click.echo(describe_groups(result["groups"]))
    if sheet:
        click.echo(f"wrote {sheet}", err=True)
    if enroll_into:
        click.echo(f"enrolled {result['enrolled'][0]} face(s) of {result['enrolled'][1]} cluster(s) into "
                   f"{enroll_into}", err=True)
    if failed:
        raise failed
    return 0


for model_command in (train, export, evaluate):   # a network of one's own: visiontk/cli/face_model.py
    command.add_command(model_command)
