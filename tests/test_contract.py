"""The task contract of docs/development.md, checked on every task that trains: the same verbs in the same
modules, exported from the package, and `TASK train` options spelled one way."""
from __future__ import annotations

import dataclasses
import importlib
import inspect

import click
import pytest

from visiontk.cli.main import cli

TRAINABLE = ("face", "gan", "sr", "style")
CLI_NAME = {"style": "stylize"}
CONTRACT = {"training": ("TrainConfig", "train"), "export": ("export",), "model": ("load_model",),
            "evaluate": ()}


@pytest.mark.parametrize("task", TRAINABLE)
@pytest.mark.parametrize("module", sorted(CONTRACT))
def test_each_task_has_the_contract_modules_and_verbs(task, module):
    found = importlib.import_module(f"visiontk.{task}.{module}")
    for name in CONTRACT[module]:
        assert callable(getattr(found, name, None)), f"visiontk.{task}.{module} has no {name}"


@pytest.mark.parametrize("task", TRAINABLE)
def test_the_package_exports_the_verbs(task):
    package = importlib.import_module(f"visiontk.{task}")
    for name in ("TrainConfig", "train", "export", "load_model", "evaluate"):
        assert name in package.__all__ and callable(getattr(package, name)), f"visiontk.{task}.{name}"


@pytest.mark.parametrize("task", TRAINABLE)
def test_train_takes_a_run_folder_and_a_config(task):
    training = importlib.import_module(f"visiontk.{task}.training")
    assert dataclasses.is_dataclass(training.TrainConfig)
    parameters = list(inspect.signature(training.train).parameters)
    assert {"run_dir", "config"} <= set(parameters), parameters


@pytest.mark.parametrize("task", TRAINABLE)
def test_export_takes_the_run_folder_then_the_output(task):
    parameters = list(inspect.signature(importlib.import_module(f"visiontk.{task}.export").export).parameters)
    assert parameters[:2] == ["run_dir", "output"], parameters


def _train_command(task: str) -> click.Command:
    return cli.commands[CLI_NAME.get(task, task)].commands["train"]


@pytest.mark.parametrize("task", TRAINABLE)
def test_train_options_are_spelled_one_way(task):
    visible = {opt for p in _train_command(task).params if isinstance(p, click.Option) and not p.hidden
               for opt in p.opts}
    for old, new in (("--lr", "--learning-rate"), ("--batch", "--batch-size")):
        assert old not in visible, f"{task} train shows {old}: spell it {new}"
    if any("learning" in opt or "lr" == opt.strip("-") for opt in visible):
        assert "--learning-rate" in visible


@pytest.mark.parametrize("task", TRAINABLE)
def test_every_export_command_takes_json(task):
    export = cli.commands[CLI_NAME.get(task, task)].commands["export"]
    assert any(p.name == "as_json" for p in export.params), f"{task} export has no --json"


@pytest.mark.parametrize("task", TRAINABLE)
def test_every_run_seeds_from_0_unless_told(task):
    """One seed default: a run repeats unless `visiontk --seed N` says otherwise (multi-worker runs
    then draw their shares of the same batches)."""
    training = importlib.import_module(f"visiontk.{task}.training")
    seed = {f.name: f for f in dataclasses.fields(training.TrainConfig)}["seed"]
    assert seed.default == 0
