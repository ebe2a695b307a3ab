"""`TASK train` options come from the task's settings dataclass: one spelling per idea, old spellings as
hidden aliases (visiontk.compat), and run folders written with old setting names still read."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import click
import pytest
from click.testing import CliRunner

from visiontk.cli.common import settings_options, training_settings
from visiontk.compat import OLD_OPTION_SPELLINGS


@dataclass
class Settings:
    steps: int = field(default=10, metadata={"help": "Steps.", "min": 1})
    batch_size: int = field(default=4, metadata={"min": 1, "max": 64})
    learning_rate: float = field(default=1e-3, metadata={"min": 0, "min_open": True})
    precision: str = field(default="auto", metadata={"choices": ("auto", "float32")})
    samples: list[str] = field(default_factory=list)


def parse(*args: str) -> tuple[dict, list[str]]:
    seen = {}

    @click.command()
    @settings_options(Settings, ("steps", "batch_size", "learning_rate", "precision", "samples"))
    @click.pass_context
    def command(ctx, **settings):
        seen["settings"], seen["given"] = training_settings(ctx, settings)

    result = CliRunner().invoke(command, list(args), standalone_mode=False, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return seen["settings"], seen["given"]


def test_defaults_and_spellings_come_from_the_dataclass():
    settings, given = parse()
    assert settings == {"steps": 10, "batch_size": 4, "learning_rate": 1e-3, "precision": "auto", "samples": ()}
    assert given == []
    settings, given = parse("--batch-size", "8", "--learning-rate", "0.01", "--samples", "a", "--samples", "b")
    assert (settings["batch_size"], settings["learning_rate"], settings["samples"]) == (8, 0.01, ("a", "b"))
    assert sorted(given) == ["batch_size", "learning_rate", "samples"]


def test_old_spellings_are_hidden_aliases():
    assert OLD_OPTION_SPELLINGS == {"--lr": "learning_rate", "--batch": "batch_size", "--width": "width"}
    settings, given = parse("--batch", "2", "--lr", "0.5")
    assert (settings["batch_size"], settings["learning_rate"]) == (2, 0.5)
    assert sorted(given) == ["batch_size", "learning_rate"]
    settings, _ = parse("--batch", "2", "--batch-size", "3")   # the new spelling wins
    assert settings["batch_size"] == 3


@pytest.mark.parametrize("args", [["--batch-size", "0"], ["--batch", "65"], ["--learning-rate", "0"],
                                  ["--precision", "half"], ["--steps", "nan"]])
def test_bounds_and_choices_are_usage_errors(args):
    @click.command()
    @settings_options(Settings, ("steps", "batch_size", "learning_rate", "precision"))
    def command(**settings):
        pass

    assert CliRunner().invoke(command, args).exit_code == 2


def test_a_run_written_with_an_old_setting_name_still_reads(tmp_path):
    from visiontk import training
    from visiontk.style.training import TrainConfig

    (tmp_path / training.CONFIG).write_text(json.dumps({"style": "painting.jpg", "batch": 2}))
    assert training.run_settings(tmp_path, TrainConfig, "stylize").batch_size == 2


def test_train_commands_share_spellings(run_cli):
    for task in ("stylize", "gan"):
        text = run_cli(task, "train", "--help").stdout
        assert "--learning-rate" in text and "--batch-size" in text
        assert "--lr " not in text and "--batch " not in text


def test_an_old_precision_value_is_still_accepted_and_read(tmp_path):
    from visiontk import training
    from visiontk.sr.training import TrainConfig

    seen = {}

    @click.command()
    @settings_options(TrainConfig, ("precision",))
    def command(precision):
        seen["precision"] = precision

    CliRunner().invoke(command, ["--precision", "mixed_bfloat16"], catch_exceptions=False)
    assert seen["precision"] == "bfloat16"
    assert "mixed_bfloat16" not in CliRunner().invoke(command, ["--help"]).output
    (tmp_path / training.CONFIG).write_text(json.dumps({"scale": 4, "precision": "mixed_bfloat16"}))
    assert training.run_settings(tmp_path, TrainConfig, "sr").precision == "bfloat16"


@pytest.mark.parametrize("command,old,new", [("gan train", "--width", "--filters"),
                                             ("gan generate", "--scale", "--zoom"),
                                             ("gan interpolate", "--steps", "-n"),
                                             ("sr compare", "--crop", "--region")])
def test_options_spelled_as_elsewhere_keep_their_old_name_hidden(run_cli, command, old, new):
    """An option whose name meant something else in another command is spelled as there; the old name
    is still accepted (visiontk.compat) but no longer shown."""
    from visiontk.cli.main import cli

    group, name = command.split()
    found = {opt: param for param in cli.commands[group].commands[name].params for opt in param.opts}
    assert found[old] is found[new] or (found[old].hidden and found[new].name == "width")   # train: an alias
    shown = run_cli(*command.split(), "--help").stdout
    assert f"{new} " in shown and f"{old} " not in shown


def test_model_cards_show_a_stored_command_in_todays_spelling():
    """A run started with old spellings is shown on its model card as the command one would type now."""
    from visiontk.compat import current_command

    stored = ("visiontk -q sr train a b --batch 16 --lr 1e-4 --precision mixed_bfloat16 --batch-size-x 2 "
              "--patch 48 --lr=2e-4")
    assert current_command(stored) == ("visiontk -q sr train a b --batch-size 16 --learning-rate 1e-4 "
                                       "--precision bfloat16 --batch-size-x 2 --patch 48 --learning-rate=2e-4")
    assert current_command("visiontk sr upscale a.png --width 300") == "visiontk sr upscale a.png --width 300"
