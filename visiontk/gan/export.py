"""A trained generator, from its run folder to NAME.weights.h5 and the NAME.json that rebuilds it."""
from __future__ import annotations

from pathlib import Path

from visiontk import training
from visiontk.errors import BadInputError
from visiontk.gan.model import generator_config_path
from visiontk.gan.training import run_generator


def export(run_dir: str | Path, output: str | Path, overwrite: bool = False) -> Path:
    """Write the generator of the run's last checkpoint to `output` (NAME.weights.h5) and its
    configuration to NAME.json beside it, for `gan generate --model NAME.weights.h5`."""
    output = Path(output)
    if not output.name.endswith(".weights.h5"):
        raise BadInputError(f"{output}: the exported file's name must end in .weights.h5")
    generator, config, _ = run_generator(run_dir)
    training.save_weights(generator, output, overwrite=overwrite)
    training.write_json(generator_config_path(output), config)
    return output
