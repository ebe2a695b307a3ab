"""A trained face-embedding network, from its run folder to NAME.keras and the NAME.json beside it that
holds its same-person distance: the pair that `--model NAME.keras` (face.load_model) reads."""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from visiontk import runtime, training
from visiontk.atomic import atomic_output
from visiontk.errors import BadInputError
from visiontk.face.model import metadata_path


def export(run_dir: str | Path, output: str | Path, overwrite: bool = False) -> Path:
    """Write the network of the run's last checkpoint as a .keras model to `output`, and its same-person
    distance (fitted on the training photos at the end of the last epoch) beside it as OUTPUT.json."""
    # Imported here: face.training keeps `export` as an alias of this function.
    from visiontk.face import training as face_training

    config = training.run_settings(run_dir, face_training.TrainConfig, "face")
    output = Path(output)
    if output.suffix != ".keras":
        raise BadInputError(f"{output}: the trained model is written as .keras")
    tf = runtime.tensorflow()
    network = face_training.build_network(config, pretrained_weights=False)
    max_distance = tf.Variable(float("nan"), dtype=tf.float64, trainable=False, name="max_distance")
    step = training.Checkpoints(run_dir, model=network, max_distance=max_distance).restore()
    if step == 0:
        raise BadInputError(f"{run_dir}: no checkpoint to export yet")
    with atomic_output(output, overwrite) as tmp:
        network.save(str(tmp))
    record = {"max_distance": float(max_distance.numpy()), "run": str(run_dir), "step": step,
              "config": asdict(config)}
    with atomic_output(metadata_path(output), overwrite=True) as tmp:
        tmp.write_text(json.dumps(record, indent=1))
    return output
