"""`visiontk similar`: index, merge, search, dupes."""
from __future__ import annotations

import csv
import io
from pathlib import Path

import click

from visiontk.cli.common import (FiniteFloatRange, bounded_int, continue_option, emit, input_paths,
                                 json_option, overwrite_option, report_failure, shard_option, stack,
                                 this_shard)
from visiontk.backbones.descriptors import DESCRIPTOR_BACKBONES, POOLINGS
from visiontk.errors import BatchFailedError, UsageError
from visiontk.similar import (DEFAULT_HASH_DISTANCE, DEFAULT_MIN_INLIERS, DEFAULT_THRESHOLD, DEFAULT_VERIFY_FROM,
                              ENGINES, HASHES_ONLY)

index_option = click.option("--index", "index_path", type=click.Path(dir_okay=False, path_type=Path),
                            help="The index file (.vtkidx) made by `visiontk similar index`.")
engine_option = click.option("--engine", type=click.Choice(ENGINES), default="auto", show_default=True,
                             help="Nearest-neighbour search: exact (NumPy), or faiss hnsw/ivf; auto picks by "
                                  "the library's size (see docs/similar.md).")
sheet_option = click.option("--sheet", type=click.Path(dir_okay=False, path_type=Path),
                            help="Save a picture of the results (.jpg or .png).")

backbone_option = click.option(
    "--backbone", type=click.Choice([*DESCRIPTOR_BACKBONES, HASHES_ONLY]), default=None,
    help="The network describing images; `none` keeps perceptual hashes alone (no network: fast, finds "
         "exact and near-exact copies, can't search) [default: the index's, else vgg16].")
pooling_option = click.option("--pooling", type=click.Choice(POOLINGS), default=None,
                              help="How its last block becomes one vector [default: the index's, else gem].")
size_option = click.option("--size", type=bounded_int(64, 2048), default=None,
                           help="Long side, in pixels, of the image the network sees [default: the index's, "
                                "else 256].")
# How images are described: for `index`, and for `dupes` when it indexes.
description_options = stack(backbone_option, pooling_option, size_option)


@click.group("similar")
def command() -> None:
    """Image similarity: search photos by example, find copies of the same photo.

    \b
      visiontk similar index photos/ --out photos.vtkidx       # again later: only what changed
      visiontk similar search query.jpg --index photos.vtkidx -k 5 --sheet hits.jpg
      visiontk similar dupes --index photos.vtkidx --csv dupes.csv --move-to set-aside/

    To search by person rather than by picture, use `visiontk face` galleries.
    """


# ---- index -------------------------------------------------------------------------------------------

@command.command("index")
@click.argument("inputs", nargs=-1, required=True)
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The index file (.vtkidx): created, or updated when it exists.")
@description_options
@continue_option
@shard_option
@json_option
def index_command(inputs, out, backbone, pooling, size, continue_on_error, as_json) -> int:
    """Describe images (files, folders, `-` for paths on stdin) into an index file.

    Incremental: re-running adds new files, describes again those whose content changed (size, time,
    then sha256) and drops those gone from the disk. With --shard K/N, N processes each index a part
    into its own file; `visiontk similar merge` joins them.

    \b
      visiontk similar index photos/ --out photos.vtkidx
      visiontk similar index photos/ --shard 0/4 --out part0.vtkidx     # ... 3/4, then merge
    """
    from visiontk.similar import check_index_path, index

    check_index_path(out)
    failures = []

    def failed(path, exc):
        report_failure(path, exc, as_json)
        failures.append(path)

    report = index(this_shard(input_paths(inputs)), out, backbone=backbone, pooling=pooling, size=size,
                   on_failure=failed if continue_on_error else None)
    record = {"input": str(out), "index": str(out), **report.to_dict()}
    emit(record, as_json, f"{out}: {record['images']} images ({record['added']} added, {record['changed']} "
                          f"changed, {record['unchanged']} unchanged, {record['removed']} removed, "
                          f"{record['failed']} failed) in {record['seconds']} s")
    if failures:
        raise BatchFailedError(f"{len(failures)} inputs could not be read (see the errors above)")
    return 0


# ---- merge -------------------------------------------------------------------------------------------

@command.command("merge")
@click.argument("parts", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The merged index file (.vtkidx).")
@overwrite_option
@json_option
def merge_command(parts, out, overwrite, as_json) -> int:
    """Join index files (e.g. the shards of `index --shard K/N`) into one; a path in several keeps the
    row of the last part given."""
    from visiontk.atomic import check_output
    from visiontk.similar import merge

    check_output(out, overwrite)
    merged = merge(list(parts), out, overwrite=overwrite)
    emit({"input": str(out), "index": str(out), "parts": len(parts), "images": len(merged)}, as_json,
         f"{out}: {len(merged)} images from {len(parts)} parts")
    return 0


# ---- search ------------------------------------------------------------------------------------------

@command.command("search")
@click.argument("queries", nargs=-1, required=True)
@click.option("--index", "index_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The index file (.vtkidx) to search.")
@click.option("-k", "k", type=bounded_int(1, 10_000), default=10, show_default=True,
              help="Results per query.")
@engine_option
@sheet_option
@overwrite_option
@continue_option
@json_option
def search_command(queries, index_path, k, engine, sheet, overwrite, continue_on_error, as_json) -> int:
    """The library images most like each query image (files, folders, `-`), most similar first.

    With --json one line per query: {"input", "results": [{"path", "similarity"}]}; similarity is the
    descriptors' cosine, 1 for the same picture. A query that is in the library does not find itself.

    \b
      visiontk similar search query.jpg --index photos.vtkidx -k 5 --sheet hits.jpg
    """
    from visiontk.cli.common import run_batch
    from visiontk.imageio import write_image
    from visiontk.atomic import check_output
    from visiontk.similar import Describer, NearestNeighbours, load_index, results_sheet, search

    if sheet:
        check_output(sheet, overwrite)
    library = load_index(index_path)
    describer = Describer(library.settings)
    neighbours = NearestNeighbours(library.descriptors, engine) if len(library) else engine
    bands = []

    def work(path: Path) -> dict:
        found = search(library, [path], k, engine=neighbours, describer=describer)[0]
        bands.append([(str(path), "query")] + [(hit.path, f"{hit.similarity:.3f} {Path(hit.path).name}")
                                                for hit in found.hits])
        return {"results": [hit.to_dict() for hit in found.hits]}

    def describe(record: dict) -> str:
        lines = [f"{record['input']}:"]
        lines += [f"  {hit['similarity']:.3f}  {hit['path']}" for hit in record["results"]]
        return "\n".join(lines)

    try:
        run_batch(input_paths(queries), work, as_json=as_json, continue_on_error=continue_on_error,
                  describe=describe)
    finally:
        if sheet and bands:
            write_image(sheet, results_sheet(bands, per_row=min(k + 1, 10)), overwrite=overwrite)
            click.echo(f"wrote {sheet}", err=True)
    return 0


# ---- dupes -------------------------------------------------------------------------------------------

@command.command("dupes")
@click.argument("inputs", nargs=-1)
@index_option
@click.option("--threshold", type=FiniteFloatRange(-1, 1), default=DEFAULT_THRESHOLD, show_default=True,
              help="Copies when the descriptors' cosine similarity is at least this.")
@click.option("--verify-from", type=FiniteFloatRange(-1, 1), default=DEFAULT_VERIFY_FROM, show_default=True,
              help="From this similarity up to --threshold, copies only when local features agree on one "
                   "transform (reads both images; lower finds more crops and borders, and costs more).")
@click.option("--min-inliers", type=bounded_int(3, 10_000), default=DEFAULT_MIN_INLIERS, show_default=True,
              help="Local-feature matches that must agree for --verify-from.")
@click.option("--hash-distance", type=bounded_int(0, 64), default=DEFAULT_HASH_DISTANCE, show_default=True,
              help="Copies when the perceptual hashes (any rotation/flip) differ in at most this many bits.")
@description_options
@engine_option
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the groups as CSV: group, path, keep (1 for the copy kept), width, height, "
                   "bytes.")
@sheet_option
@click.option("--move-to", type=click.Path(file_okay=False, path_type=Path),
              help="Move all but the best copy of each group (the most picture, borders left out, then "
                   "the largest file) into this folder. Nothing is ever deleted.")
@overwrite_option
@continue_option
@json_option
def dupes_command(inputs, index_path, threshold, verify_from, min_inliers, hash_distance, backbone, pooling,
                  size, engine, csv_path, sheet, move_to, overwrite,
                  continue_on_error, as_json) -> int:
    """Groups of copies of the same photo (resized, re-saved, cropped, rotated, edited).

    Give folders or files (indexed in memory), an --index, or both (the folders are added to the index
    first). With --json one line per group: {"keep", "duplicates", "size"}.

    \b
      visiontk similar dupes photos/
      visiontk similar dupes --index photos.vtkidx --csv dupes.csv --sheet dupes.jpg
      visiontk similar dupes photos/ --move-to set-aside/
    """
    from visiontk.imageio import write_image
    from visiontk.atomic import atomic_output, check_output
    from visiontk.similar import duplicates, index, load_index, results_sheet, set_aside

    if not inputs and not index_path:
        raise UsageError("give folders or files to look in, or --index FILE")
    for output in (csv_path, sheet):
        if output:
            check_output(output, overwrite)
    failures = []

    def failed(path, exc):
        report_failure(path, exc, as_json)
        failures.append(path)

    if inputs:
        report = index(input_paths(inputs), index_path, backbone=backbone, pooling=pooling, size=size,
                       on_failure=failed if continue_on_error else None)
        library = report.index
    else:
        library = load_index(index_path)
    groups = duplicates(library, threshold=threshold, hash_distance=hash_distance, engine=engine,
                        verify_from=verify_from, min_inliers=min_inliers)
    for number, group in enumerate(groups):
        emit({"input": group.keep, "group": number, **group.to_dict()}, as_json,
             f"group {number}: keep {group.keep}\n" + "\n".join(f"  copy {p}" for p in group.set_aside()))
    if not as_json:
        click.echo(f"{len(groups)} group(s), {sum(len(g.paths) - 1 for g in groups)} copies "
                   f"among {len(library)} images", err=True)
    if csv_path:
        with atomic_output(csv_path, overwrite) as tmp:
            tmp.write_text(_groups_csv(groups, library), encoding="utf-8")
    if sheet and groups:
        bands = [[(path, ("keep " if path == group.keep else "") + Path(path).name) for path in group.paths]
                 for group in groups]
        write_image(sheet, results_sheet(bands), overwrite=overwrite)
    if move_to:
        for source, target in set_aside(groups, move_to):
            emit({"input": source, "moved_to": target}, as_json, f"moved {source} -> {target}")
    if failures:
        raise BatchFailedError(f"{len(failures)} inputs could not be read (see the errors above)")
    return 0


def _groups_csv(groups, library) -> str:
    row_of = library.position()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["group", "path", "keep", "width", "height", "bytes"])
    for number, group in enumerate(groups):
        for path in group.paths:
            row = row_of[path]
            writer.writerow([number, path, int(path == group.keep), int(library.widths[row]),
                             int(library.heights[row]), int(library.file_sizes[row])])
    return out.getvalue()
