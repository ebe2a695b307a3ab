"""A trained style network's weights, from its run folder to a .weights.h5 file."""
from __future__ import annotations

from pathlib import Path

from visiontk import runtime, training
from visiontk.errors import BadInputError
from visiontk.style.training import TrainConfig


def export(run_dir: str | Path, output: str | Path, overwrite: bool = False) -> Path:
    """Write the trained network's weights (float32) from the run's last checkpoint to `output`."""
    config = training.run_settings(run_dir, TrainConfig, "stylize")
    runtime.tensorflow()
    from visiontk.backbones.transformer import StyleTransformer

    network = StyleTransformer(config.filters, config.residual_blocks)
    checkpoints = training.Checkpoints(run_dir, network=network)
    if checkpoints.restore() == 0:
        raise BadInputError(f"{run_dir}: no checkpoint to export yet")
    if not str(output).endswith(".weights.h5"):
        raise BadInputError(f"{output}: name the weights file NAME.weights.h5")
    return training.save_weights(network, output, overwrite=overwrite)
