"""`visiontk face`: detect, verify, embed, enroll, identify, cluster, gallery, train, eval."""
from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from visiontk.cli.common import (FiniteFloatRange, batch_options, continue_option, emit, export_output_option,
                                 input_paths, inputs_argument, json_option, overwrite_option, run_batch,
                                 run_dir_argument, shard_option, stack, strategy_option, this_shard)
from visiontk.compat import FACE_OLD_OPTIONS
from visiontk.errors import BadInputError, BatchFailedError, NoFaceError

from visiontk.face.cluster import DEFAULT_CLUSTER_DISTANCE
from visiontk.face.detect import DEFAULT_MIN_CONFIDENCE, DEFAULT_MIN_FACE
from visiontk.face.training import TrainConfig
from visiontk.face.model import DEFAULT_MAX_DISTANCE
from visiontk.face.video import FULL_EVERY



class OldNameOption(click.Option):
    """An option whose names after the first are old spellings: still accepted, left out of --help."""

    def get_help_record(self, ctx):
        names, self.opts = self.opts, self.opts[:1]
        try:
            return super().get_help_record(ctx)
        finally:
            self.opts = names


def old_spelling(option: str, command: str) -> list[str]:
    """The old spelling `command` still accepts for `option` (visiontk.compat), or none."""
    spellings = FACE_OLD_OPTIONS[option]
    old = spellings.get(command, spellings.get("*"))
    return [old] if old else []


def min_confidence_option(command: str):
    """--min-confidence (the detector's), also accepted under its old name."""
    return click.option("--min-confidence", *old_spelling("--min-confidence", command), "min_confidence",
                        cls=OldNameOption,
                        type=FiniteFloatRange(0, 1), default=DEFAULT_MIN_CONFIDENCE, show_default=True,
                        help="O-Net confidence a detection needs to count as a face.")


model_option = click.option("--model", "model_path", type=click.Path(dir_okay=False, path_type=Path),
                            help="A .keras model from `face train` (default: dlib's pretrained ResNet).")
min_face_option = click.option("--min-face", type=click.IntRange(min=4), default=DEFAULT_MIN_FACE,
                               show_default=True, help="Smallest face to look for, in pixels.")
pairs_root_option = click.option(
    "--root", type=click.Path(file_okay=False, path_type=Path),
    help="Folder the pairs' paths are relative to [default: the pairs file's folder].")
def max_distance_option(command: str):
    """--max-distance (the same-person embedding distance), also accepted under its old name."""
    return click.option("--max-distance", *old_spelling("--max-distance", command), "max_distance",
                        cls=OldNameOption,
                        type=FiniteFloatRange(min=0), default=None,
                        help="Same person when the embedding distance is at most this "
                             f"[default: the model's, {DEFAULT_MAX_DISTANCE:g} for dlib's].")


confidence_option = min_confidence_option("*")
# The embedding network and the detector's settings, which every command that embeds faces takes.
embedder_options = stack(model_option, confidence_option, min_face_option)
face_index_option = click.option("--face", "face_index", type=click.IntRange(min=0), default=0,
                                 show_default=True,
                                 help="Which face when there are several: 0 = the largest, 1 = the next...")


_every = click.option("--every", type=click.IntRange(min=1), default=1, show_default=True,
                      help="Video clips: analyse every Nth frame (a drawn clip keeps the last boxes).")
_search_every = click.option(
    "--search-every", "search_every", type=click.IntRange(min=1), default=FULL_EVERY, show_default=True,
    help="Video clips: search the whole frame every Nth analysed frame and follow the faces found in "
         "between (1: search every analysed frame).")
every_option = stack(_every, _search_every)


def _draw_target(draw: Path, source: Path, many: bool, suffix: str, extension: str = ".png") -> Path:
    """--draw names a file for one input, a folder for several."""
    if many or draw.is_dir():
        return draw / f"{source.stem}{suffix}{extension}"
    return draw


def _frame_lines(path: Path, as_json: bool):
    """With --json a clip prints one line per analysed frame before its summary; text shows the summary."""
    return (lambda record: emit({"input": str(path), "ok": True, **record}, True)) if as_json else None


@click.group("face")
def command() -> None:
    """Face detection (MTCNN), verification and recognition (dlib's face ResNet, rebuilt in Keras).

    \b
      visiontk face verify obama_1.jpg obama_2.jpg        # same person? exit 0 yes, 1 no
      visiontk face detect group.jpg --draw faces.png
      visiontk face enroll --gallery people.npz obama obama_*.jpg
      visiontk face identify --gallery people.npz group.jpg --draw named.png
    """


# ---- detect -------------------------------------------------------------------------------------------

@command.command()
@inputs_argument
@click.option("--draw", type=click.Path(path_type=Path),
              help="Save the image with boxes and landmarks drawn (a folder when there are several inputs).")
@click.option("--crops", type=click.Path(file_okay=False, path_type=Path),
              help="Save each face's aligned 150x150 chip in this folder (NAME_face0.png, ...).")
@click.option("--min-face", type=click.IntRange(min=4), default=DEFAULT_MIN_FACE, show_default=True,
              help="Smallest face to look for, in pixels.")
@min_confidence_option("detect")
@every_option
@batch_options(skip_existing=False)
def detect(inputs, draw, crops, min_face, min_confidence, every, search_every, crf, overwrite, as_json,
           continue_on_error) -> int:
    """Find faces: boxes (left, top, right, bottom), confidence and five landmarks.

    An image without faces is not an error here: it reports 0 faces. A video clip reports each
    analysed frame (with --json), draws into a clip (--draw out.mp4) and sums up when faces appear.
    """
    from visiontk.face.photo import detect_photo
    from visiontk.face.video import describe_summary, detect_video
    from visiontk.videoio import is_video

    paths = input_paths(inputs)
    many = len(paths) > 1  # of the whole batch: --draw means the same in every shard
    paths = this_shard(paths)

    def work(path: Path) -> dict:
        if is_video(path):
            return detect_video(path, every=every, full_every=search_every, min_confidence=min_confidence,
                                min_face=min_face, crf=crf,
                                draw=_draw_target(draw, path, many, "_faces", ".mp4") if draw else None,
                                overwrite=overwrite, on_frame=_frame_lines(path, as_json))
        return detect_photo(path, draw=_draw_target(draw, path, many, "_faces") if draw else None, crops=crops,
                            min_confidence=min_confidence, min_face=min_face, overwrite=overwrite)

    def describe(record: dict) -> str:
        if "appearances" in record:
            return describe_summary(record)
        lines = [f"{record['input']}: {len(record['faces'])} face(s)"]
        for i, face in enumerate(record["faces"]):
            box = ", ".join(f"{v:.0f}" for v in face["box"])
            lines.append(f"  face {i}: box ({box}) confidence {face['confidence']:.3f}")
        return "\n".join(lines)

    return run_batch(paths, work, as_json=as_json, continue_on_error=continue_on_error, describe=describe)


# ---- verify -------------------------------------------------------------------------------------------

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
    model = load_model(model_path)
    result = verify_faces(images[0], images[1], model=model, max_distance=max_distance, face_index=face_index,
                          min_confidence=min_confidence, min_face=min_face)
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


# ---- embed --------------------------------------------------------------------------------------------

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
    from visiontk.face import EmbeddingSet, embed_faces, load_model
    from visiontk.face import embed as embed_face
    from visiontk.atomic import check_output

    if output is None and not as_json:
        raise click.UsageError("say where the embeddings go: -o FILE.npz, or --json to print them")
    if output is not None:
        check_output(EmbeddingSet.check_path(output), overwrite)
    paths = this_shard(input_paths(inputs))
    model = load_model(model_path)
    options = {"min_confidence": min_confidence, "min_face": min_face}
    rows = EmbeddingSet(model.name)

    def work(path: Path) -> dict:
        if all_faces:
            found = embed_faces(path, model=model, **options)
            if not found:
                raise NoFaceError(f"{path}: no face found")
            items = list(enumerate(found))
        else:
            items = [(face_index, embed_face(path, face_index=face_index, model=model, **options))]
        for index, item in items:
            rows.add(path, index, item.embedding, item.face.box)
        return {"faces": [item.to_dict(index) for index, item in items]}

    def describe(record: dict) -> str:
        return f"{record['input']}: {len(record['faces'])} embedding(s)"

    try:
        code = run_batch(paths, work, as_json=as_json, continue_on_error=continue_on_error,
                         describe=describe if output else None)
    except BatchFailedError:
        # --continue-on-error: keep what succeeded, then still exit 5.
        if output is not None and len(rows):
            rows.save(output, overwrite)
        raise
    if output is not None:
        rows.save(output, overwrite)
        if not as_json:
            click.echo(f"wrote {len(rows)} embedding(s) to {output}")
    return code


# ---- enroll / identify / gallery ----------------------------------------------------------------------

gallery_option = click.option("--gallery", "gallery_path", required=True,
                              type=click.Path(dir_okay=False, path_type=Path),
                              help="The gallery file (.npz or .json); enroll creates it.")


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
    from visiontk.face import Gallery, load_model
    from visiontk.face import embed as embed_face

    if not name.strip() or name == "unknown":
        raise click.BadParameter("give the person a name other than 'unknown'", param_hint="NAME")
    model = load_model(model_path)
    # Refuse a wrong or damaged gallery before the work.
    Gallery.load(Gallery.check_path(gallery_path), model=model.name, size=model.embedding_size)
    paths = input_paths(inputs)
    enrolled: list[tuple[np.ndarray, str]] = []

    def work(path: Path) -> dict:
        found = embed_face(path, face_index=face_index, model=model, min_confidence=min_confidence,
                           min_face=min_face)
        enrolled.append((found.embedding, str(path)))
        return {"name": name, "box": [round(v, 1) for v in found.face.box]}

    def save() -> None:
        # Read-modify-write under the gallery's lock: a concurrent enroll's people stay.
        with Gallery.update(gallery_path, model=model.name, size=model.embedding_size) as gallery:
            gallery.add_many([name] * len(enrolled), np.array([e for e, _ in enrolled]),
                             [source for _, source in enrolled])

    try:
        code = run_batch(paths, work, as_json=as_json, continue_on_error=continue_on_error,
                         describe=lambda r: f"{r['input']}: enrolled as {r['name']}")
    except BatchFailedError:
        # --continue-on-error: keep the photos that worked, then still exit 5.
        if enrolled:
            save()
        raise
    # Without --continue-on-error a failure leaves the gallery file as it was.
    save()
    return code


@command.command()
@gallery_option
@inputs_argument
@click.option("--draw", type=click.Path(path_type=Path),
              help="Save the image with each face boxed and named (a folder when there are several inputs).")
@max_distance_option("identify")
@embedder_options
@every_option
@batch_options(skip_existing=False)
def identify(gallery_path, inputs, draw, max_distance, model_path, min_confidence, min_face, every, search_every,
             crf, overwrite, as_json, continue_on_error) -> int:
    """Name every face in each image from a gallery; `unknown` when no one is close enough.

    A video clip reports each analysed frame (with --json) and sums up who appears when.

    \b
      visiontk face identify --gallery people.npz group.jpg --draw named.png
      visiontk face identify --gallery people.npz clip.mp4 --every 5 --draw named.mp4 --json
    """
    from visiontk.face import Gallery, load_model
    from visiontk.face.photo import identify_photo
    from visiontk.face.video import describe_summary, identify_video
    from visiontk.videoio import is_video

    model = load_model(model_path)
    gallery = Gallery.load(gallery_path)
    if gallery.model != model.name:
        raise BadInputError(f"{gallery_path}: gallery was built with model {gallery.model!r}, not "
                            f"{model.name!r}; use the same --model")
    gallery.check_size(gallery_path, model.embedding_size)
    if not len(gallery):
        raise BadInputError(f"{gallery_path}: gallery is empty (add people with `visiontk face enroll`)")
    paths = input_paths(inputs)
    many = len(paths) > 1  # of the whole batch: --draw means the same in every shard
    paths = this_shard(paths)
    options = {"max_distance": max_distance, "min_confidence": min_confidence, "min_face": min_face,
               "overwrite": overwrite}

    def work(path: Path) -> dict:
        if is_video(path):
            return identify_video(path, gallery, model, every=every, full_every=search_every, crf=crf,
                                  on_frame=_frame_lines(path, as_json),
                                  draw=_draw_target(draw, path, many, "_named", ".mp4") if draw else None,
                                  **options)
        return identify_photo(path, gallery, model, draw=_draw_target(draw, path, many, "_named") if draw else None,
                              **options)

    def describe(record: dict) -> str:
        if "appearances" in record:
            return describe_summary(record)
        if not record["faces"]:
            return f"{record['input']}: no faces"
        names = ", ".join(f"{f['name']} ({f['distance']:.3f})" for f in record["faces"])
        return f"{record['input']}: {names}"

    return run_batch(paths, work, as_json=as_json, continue_on_error=continue_on_error, describe=describe)


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
    emit({"input": str(gallery_path), "gallery": str(gallery_path), "model": found.model, "people": people},
         as_json,
         "\n".join(f"{name}\t{count}" for name, count in sorted(people.items())) or "(empty gallery)")
    return 0


@gallery.command("remove")
@gallery_option
@click.argument("name")
@json_option
def gallery_remove(gallery_path, name, as_json) -> int:
    """Remove a person (all their embeddings) from a gallery."""
    from visiontk.face import Gallery

    Gallery.load(gallery_path)  # a missing gallery is an error here, not an empty one
    with Gallery.update(gallery_path) as found:
        dropped = found.remove(name)
        if not dropped:
            raise BadInputError(f"{gallery_path}: no one named {name!r} in the gallery "
                                "(see `visiontk face gallery list`)")
    emit({"input": str(gallery_path), "gallery": str(gallery_path), "removed": name, "embeddings": dropped},
         as_json,
         f"removed {name} ({dropped} embedding(s))")
    return 0


# ---- cluster ------------------------------------------------------------------------------------------

@command.command()
@inputs_argument
@click.option("--sheet", type=click.Path(dir_okay=False, path_type=Path),
              help="Save a contact sheet: one band of face chips per cluster (noise last).")
@click.option("--min-size", type=click.IntRange(min=1), default=1, show_default=True,
              help="Clusters with fewer faces are noise (cluster -1); 2 makes every lone face noise.")
@click.option("--max-distance", "max_distance", type=FiniteFloatRange(min=0), default=None,
              help="Groups of faces join while on average at most this far apart [default: "
                   f"{DEFAULT_CLUSTER_DISTANCE:g} for dlib's network, the same share of another model's "
                   "same-person distance].")
@click.option("--enroll-into", "enroll_into", type=click.Path(dir_okay=False, path_type=Path),
              help="Add the clusters to this gallery (.npz or .json): those named with --name, or all "
                   "as cluster-N when no --name is given.")
@click.option("--name", "names", multiple=True, metavar="N=NAME",
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
    from visiontk.face import Gallery, load_model
    from visiontk.face.cluster import NOISE, FaceClusters
    from visiontk.imageio import write_image
    from visiontk.atomic import check_output

    wanted = _cluster_names(names, enroll_into)
    if sheet:
        check_output(sheet, overwrite)
    model = load_model(model_path)
    if enroll_into:   # refuse a wrong or damaged gallery first
        Gallery.load(Gallery.check_path(enroll_into), model=model.name, size=model.embedding_size)
    paths = input_paths(inputs)
    found = FaceClusters(model, min_confidence, min_face, keep_chips=bool(sheet))

    def work(path: Path) -> None:
        found.add_photo(path)   # nothing to print per photo: the faces are listed once clustered

    failed = None
    try:
        run_batch(paths, work, as_json=as_json, continue_on_error=continue_on_error)
    except BatchFailedError as exc:
        failed = exc   # --continue-on-error: cluster the faces that were read, then exit 5
    if not found.faces:
        raise failed or NoFaceError(f"no face found in {len(paths)} input(s)")
    found.cluster(max_distance, min_size)
    for face in found.faces:
        emit({**face.to_dict(), "ok": True}, as_json)
    if not as_json:
        for cluster_id, members in found.groups().items():
            title = "noise" if cluster_id == NOISE else f"cluster {cluster_id}"
            listed = ", ".join(Path(f.source).name + (f" (face {f.index})" if f.index else "") for f in members)
            click.echo(f"{title}: {len(members)} face(s): {listed}")
    if sheet:
        write_image(sheet, found.sheet(), overwrite=overwrite)
        click.echo(f"wrote {sheet}", err=True)
    if enroll_into:
        faces, clusters = found.enroll(enroll_into, wanted)
        click.echo(f"enrolled {faces} face(s) of {clusters} cluster(s) into {enroll_into}", err=True)
    if failed:
        raise failed
    return 0


def _cluster_names(names: tuple[str, ...], enroll_into: Path | None) -> dict[int, str] | None:
    """--name N=NAME pairs as {N: NAME}; None means "all clusters, as cluster-N"."""
    if names and not enroll_into:
        raise click.UsageError("--name says whom to enrol: give --enroll-into GALLERY too")
    wanted = {}
    for item in names:
        number, _, name = item.partition("=")
        if not number.strip().isdigit() or not name.strip() or name.strip() == "unknown":
            raise click.BadParameter(f"{item!r}: expected N=NAME, e.g. 0=obama", param_hint="--name")
        wanted[int(number)] = name.strip()
    return wanted or None


# ---- train / eval -------------------------------------------------------------------------------------

TRAIN = TrainConfig()   # the training defaults --help shows


@command.command("train")
@click.argument("data", nargs=-1, required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--out", "run_dir", type=click.Path(file_okay=False, path_type=Path),
              help="The run folder (created; run the same command again to resume).")
@click.option("--epochs", type=click.IntRange(min=1), default=TRAIN.epochs, show_default=True)
@click.option("--steps", type=click.IntRange(min=1), default=None,
              help="Train to this many steps in all, instead of --epochs.")
@click.option("--loss", type=click.Choice(["triplet", "contrastive"]), default=TRAIN.loss, show_default=True,
              help="Triplet loss with online semi-hard mining, or contrastive loss over the batch's pairs.")
@click.option("--margin", type=FiniteFloatRange(min=0), default=None,
              help="Loss margin [default: 0.2 triplet (squared distances), 1.0 contrastive].")
@click.option("--init", "init", type=click.Choice(["pretrained", "scratch"]), default=TRAIN.init,
              show_default=True, help="Start from dlib's pretrained network, or from random weights.")
@click.option("--freeze-backbone", is_flag=True,
              help="Train only a new embedding head on the frozen network.")
@click.option("--identities-per-batch", type=click.IntRange(min=2), default=TRAIN.identities_per_batch,
              show_default=True)
@click.option("--images-per-identity", type=click.IntRange(min=2), default=TRAIN.images_per_identity,
              show_default=True)
@click.option("--steps-per-epoch", type=click.IntRange(min=1), default=None,
              help="Batches per epoch [default: enough to see each training image about once].")
@click.option("--learning-rate", type=FiniteFloatRange(min=0, min_open=True), default=None,
              help="Adam's learning rate [default: 1e-4 from pretrained, 1e-3 from scratch or frozen].")
@click.option("--embedding-size", type=click.IntRange(min=2), default=TRAIN.embedding_size, show_default=True)
@click.option("--val-fraction", type=FiniteFloatRange(0, 0.9), default=TRAIN.val_fraction, show_default=True,
              help="Share of each identity's images kept aside for the validation pairs.")
@click.option("--checkpoint-every", type=click.IntRange(min=1), default=None,
              help="Steps between checkpoints [default: every epoch].")
@strategy_option
@min_face_option
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), hidden=True,
              help="Old form: also export the model here at the end (run folder OUTPUT.ckpt).")
@click.option("--checkpoint-dir", type=click.Path(file_okay=False, path_type=Path), hidden=True,
              help="Old name of --out.")
@click.option("--resume", is_flag=True, hidden=True, help="Old flag: the same command now resumes.")
@click.option("--overwrite", is_flag=True, hidden=True, help="Replace an existing -o model.")
@json_option
@click.pass_context
def train(ctx: click.Context, data: tuple[Path, ...], run_dir: Path | None, output: Path | None,
          checkpoint_dir: Path | None, resume: bool, overwrite: bool, as_json: bool, **settings) -> int:
    """Train a face-embedding network on DATA (folders holding one sub-folder of photos per person).

    Faces are detected and aligned once; each batch holds several photos of several people, and the
    loss pulls a person's embeddings together and pushes other people's apart. After every epoch the
    run logs the validation pair accuracy and the fitted same-person distance to RUN/metrics.csv and
    RUN/curves.png; checkpoints go to RUN/checkpoints. Ctrl-C or SIGTERM saves; the same command
    resumes (--epochs, --steps, --learning-rate and --checkpoint-every may change on resume, the rest
    may not). `face export RUN -o NAME.keras` writes the model for `--model NAME.keras`.

    \b
      visiontk face train people/ --out runs/mine --loss triplet --epochs 20
      visiontk face export runs/mine -o mine.keras
      visiontk face verify --model mine.keras a.jpg b.jpg
    """
    from visiontk.cli.common import progress_reporter, training_settings
    from visiontk.face import training
    from visiontk.atomic import check_output

    if settings["steps"] is not None and \
            ctx.get_parameter_source("epochs") is click.core.ParameterSource.COMMANDLINE:
        raise click.UsageError("give --epochs or --steps, not both")
    run_dir = run_dir or checkpoint_dir or (output.with_name(output.name + ".ckpt") if output else None)
    if run_dir is None:
        raise click.UsageError("Missing option '--out' (the run folder).")
    if output is not None:
        check_output(output, overwrite)
    settings, given = training_settings(ctx, settings)
    config = training.config_from(list(data), **settings)
    last = training.train(list(data), run_dir, config, given=["data", *given],
                          on_progress=progress_reporter(run_dir, as_json))
    if output is not None:
        training.export(run_dir, output, overwrite=overwrite)
        emit({"input": str(run_dir), "model": str(output), **last}, as_json)
    if not as_json:
        click.echo(f"{run_dir}: step {last['step']:.0f}, validation pair accuracy "
                   f"{last.get('val_accuracy', float('nan')):.3f} at max distance "
                   f"{last.get('max_distance', float('nan')):.3f} "
                   + (f"(wrote {output})" if output else
                      f"(export with `visiontk face export {run_dir} -o NAME.keras`)"))
    return 0


@command.command("export")
@run_dir_argument
@export_output_option("The model to write (NAME.keras; its same-person distance goes beside it as NAME.json).")
@overwrite_option
def export(run_dir: Path, output: Path, overwrite: bool) -> int:
    """Write the network trained in RUN_DIR as a .keras model, for `--model` in every face command."""
    from visiontk.face import training

    training.export(run_dir, output, overwrite=overwrite)
    click.echo(f"{run_dir} -> {output}")
    return 0


@command.command("eval")
@click.argument("pairs_file", type=click.Path(dir_okay=False, path_type=Path))
@pairs_root_option
@click.option("--roc", type=click.Path(dir_okay=False, path_type=Path),
              help="Draw the ROC curve to this PNG.")
@max_distance_option("eval")
@embedder_options
@overwrite_option
@json_option
def evaluate(pairs_file, root, roc, max_distance, model_path, min_confidence, min_face, overwrite,
             as_json) -> int:
    """Verification accuracy on labelled pairs (CSV with a same column, or LFW's pairs.txt).

    Reports the accuracy at --max-distance, the LFW protocol's 10-fold cross-validated accuracy and
    distance threshold, ROC AUC and the true accept rate at a false accept rate of 1e-3.

    \b
      visiontk face eval pairs.csv --roc roc.png
      visiontk face eval lfw/pairs.txt --root lfw/images
    """
    from visiontk.face import load_model
    from visiontk.face.evaluate import draw_roc, evaluate_pairs
    from visiontk.atomic import check_output

    if roc:
        check_output(roc, overwrite)
    result = evaluate_pairs(pairs_file, root, model=load_model(model_path), max_distance=max_distance,
                            min_confidence=min_confidence, min_face=min_face)
    distances, same = result.pop("distances"), result.pop("same")
    if roc:
        draw_roc(roc, distances, same, title=f"{result['model']} on {pairs_file.name}")
        result["roc"] = str(roc)
    text = "\n".join([
        f"model {result['model']}, {result['pairs']} pairs ({result['same_pairs']} same), "
        f"{result['no_face']} with no face found",
        f"accuracy at max distance {result['max_distance']:g}: {result['accuracy']:.4f}",
        f"10-fold accuracy: {result['cv_accuracy']:.4f} +- {result['cv_accuracy_std']:.4f} "
        f"(threshold {result['cv_threshold']:.3f})",
        f"ROC AUC: {result['roc_auc']:.4f}   TAR at FAR 1e-3: {result['tar_at_far_1e-3']:.4f}",
        f"largest same-person distance {result['max_same_distance']:.3f}, smallest different-person "
        f"distance {result['min_different_distance']:.3f}",
    ])
    emit(result, as_json, text)
    return 0
