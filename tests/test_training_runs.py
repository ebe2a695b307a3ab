"""The one resume rule of every trainer (visiontk.training): settings typed again may change only where
the trainer allows it, another task's run folder is refused untouched, unknown settings are refused."""
from __future__ import annotations

import dataclasses

import pytest

from visiontk import training
from visiontk.errors import BadInputError, UsageError


@dataclasses.dataclass
class Toy:
    data: list = dataclasses.field(default_factory=list)
    steps: int = 10
    width: int = 8


@dataclasses.dataclass
class Other:
    scale: int = 2
    steps: int = 10


def test_a_resumed_run_keeps_its_settings_but_a_changeable_one_given_again(tmp_path):
    run = tmp_path / "run"
    assert training.prepare_run(run, Toy(width=16), task="toy") == (Toy(width=16), False)
    resumed, was_resumed = training.prepare_run(run, Toy(steps=30), task="toy", given=["steps"],
                                                changeable=["steps"])
    assert was_resumed and resumed == Toy(steps=30, width=16)      # width: the run's, not the default
    assert training.run_settings(run, Toy, "toy") == Toy(steps=30, width=16)   # stored for the next resume
    with pytest.raises(UsageError, match=r"can't change on resume: `width` \(the run has 16\)"):
        training.prepare_run(run, Toy(width=8), task="toy", given=["width"], changeable=["steps"])


def test_another_tasks_run_is_refused_and_left_as_it_was(tmp_path):
    run = tmp_path / "run"
    training.prepare_run(run, Other(), task="other")
    before = (run / training.CONFIG).read_bytes()
    with pytest.raises(BadInputError, match="not a `visiontk toy train` run .*scale"):
        training.prepare_run(run, Toy(), task="toy", given=["steps"], changeable=["steps"])
    assert (run / training.CONFIG).read_bytes() == before


def test_a_folder_that_is_not_a_run(tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "a.jpg").write_bytes(b"x")
    with pytest.raises(BadInputError, match="not empty and holds no config.json"):
        training.prepare_run(tmp_path / "photos", Toy(), task="toy")
    with pytest.raises(BadInputError, match="not a training run"):
        training.run_settings(tmp_path / "photos", Toy, "toy")
    assert training.run_settings(tmp_path / "photos", Toy, "toy", required=False) is None
    (tmp_path / "file").write_text("")
    with pytest.raises(BadInputError, match="is a file"):
        training.prepare_run(tmp_path / "file", Toy(), task="toy")


def test_unknown_settings_are_refused():
    assert training.make_settings(Toy, steps=3) == Toy(steps=3)
    with pytest.raises(UsageError, match="unknown training settings: stpes"):
        training.make_settings(Toy, stpes=3)
