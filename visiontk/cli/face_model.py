"""`visiontk face train`, `export` and `eval`: a face-embedding network of one's own, from training to the
pair accuracy that says whether to use it."""
from __future__ import annotations

from pathlib import Path

import click

from visiontk.cli.common import (emit, export_output_option, json_option, overwrite_option, run_dir_argument,
                                 settings_options, strategy_option)
from visiontk.cli.face_options import embedder_options, max_distance_option, pairs_root_option
from visiontk.face import TrainConfig


@click.command("train")
@click.argument("data", nargs=-1, required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--out", "run_dir", type=click.Path(file_okay=False, path_type=Path),
              help="The run folder (created; run the same command again to resume).")
@settings_options(TrainConfig, ("epochs", "steps", "loss", "margin", "init", "freeze_backbone",
                                "identities_per_batch", "images_per_identity", "steps_per_epoch",
                                "learning_rate", "embedding_size", "val_fraction", "checkpoint_every",
                                "min_face"))
@strategy_option
# The old form (visiontk.compat): -o M.keras trains into M.keras.ckpt and exports there at the end.
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), hidden=True)
@click.option("--checkpoint-dir", type=click.Path(file_okay=False, path_type=Path), hidden=True)
@click.option("--resume", is_flag=True, hidden=True)
@click.option("--overwrite", is_flag=True, hidden=True)
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
    from visiontk.atomic import check_output
    from visiontk.cli.common import progress_reporter, training_settings
    from visiontk.face import export as export_model, training

    if settings["steps"] is not None and \
            ctx.get_parameter_source("epochs") is click.core.ParameterSource.COMMANDLINE:
        raise click.UsageError("give --epochs or --steps, not both")
    run_dir = run_dir or checkpoint_dir or (output.with_name(output.name + ".ckpt") if output else None)
    if run_dir is None:
        raise click.UsageError("Missing option '--out' (the run folder).")
    if output is not None:
        check_output(output, overwrite)
    settings, given = training_settings(ctx, settings)
    last = training.train(list(data), run_dir, training.config_from(list(data), **settings),
                          given=["data", *given], on_progress=progress_reporter(run_dir, as_json))
    if output is not None:
        export_model(run_dir, output, overwrite=overwrite)
        emit({"input": str(run_dir), "model": str(output), **last}, as_json)
    if not as_json:
        click.echo(f"{run_dir}: step {last['step']:.0f}, validation pair accuracy "
                   f"{last.get('val_accuracy', float('nan')):.3f} at max distance "
                   f"{last.get('max_distance', float('nan')):.3f} "
                   + (f"(wrote {output})" if output else
                      f"(export with `visiontk face export {run_dir} -o NAME.keras`)"))
    return 0


@click.command("export")
@run_dir_argument
@export_output_option("The model to write (NAME.keras; its same-person distance goes beside it as "
                      "NAME.json).")
@overwrite_option
@json_option
def export(run_dir: Path, output: Path, overwrite: bool, as_json: bool) -> int:
    """Write the network trained in RUN_DIR as a .keras model, for `--model` in every face command."""
    from visiontk.face import export as export_model
    from visiontk.face.model import metadata_path

    written = export_model(run_dir, output, overwrite=overwrite)
    emit({"input": str(run_dir), "model": str(written), "metadata": str(metadata_path(written))}, as_json,
         f"{run_dir} -> {written}")
    return 0


@click.command("eval")
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
    from visiontk.face.evaluate import describe_evaluation, evaluate_pairs

    result = evaluate_pairs(pairs_file, root, model=model_path, max_distance=max_distance,
                            min_confidence=min_confidence, min_face=min_face, roc=roc, overwrite=overwrite)
    del result["distances"], result["same"]
    emit(result, as_json, describe_evaluation(result))
    return 0
