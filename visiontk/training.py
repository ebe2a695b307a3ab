"""One way to train: the run folder every trainer writes, and the step loop that fills it.

A run folder holds
    config.json     the run's settings, fixed at its first start (see `prepare_run` for what may change)
    metrics.csv     one row per logged step: `step`, `seconds` (training time so far), then the task's values
    checkpoints/    tf.train.CheckpointManager: the step, the model(s) and optimizer(s)
    curves.png      the metrics drawn (the task says which), redrawn as the run goes
    samples/        pictures the task draws along the way (where it has any)

Running the same command on the same folder resumes from the last checkpoint. Batches are drawn from
`step_rng(seed, step)`, a generator that depends only on the seed and the step, so a resumed run sees
exactly the batches the uninterrupted run would have seen, and ends with the same weights.
"""
from __future__ import annotations

import csv
import io
import json
import logging
import tempfile
import time
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, TypeVar

import numpy as np

from visiontk.compat import renamed_settings
from visiontk.errors import BadInputError, UsageError
from visiontk.atomic import atomic_output
from visiontk.runtime import GracefulStop, is_chief, progress, tensorflow

log = logging.getLogger("visiontk")

CONFIG = "config.json"
METRICS = "metrics.csv"
CHECKPOINTS = "checkpoints"
CURVES = "curves.png"
SAMPLES = "samples"

Progress = Callable[[dict], None]
Settings = TypeVar("Settings")   # a task's TrainConfig dataclass


def prepare_run(run_dir: str | Path, config: Settings, *, task: str, given: Iterable[str] = (),
                changeable: Iterable[str] = ()) -> tuple[Settings, bool]:
    """Start a `task train` run in `run_dir` with `config` (a settings dataclass), or resume the one
    there. Returns (the run's settings, resumed).

    On resume the stored settings hold, except those the user gave again (`given`): a given setting
    named in `changeable` (a schedule: steps, learning rate) replaces the stored one; any other given
    setting must equal the stored one, or the run is refused, since it would no longer be one run.
    Under a multi-worker strategy (the settings' `strategy`) only the chief writes config.json.
    """
    run_dir = Path(run_dir)
    stored = run_settings(run_dir, type(config), task, required=False)
    if stored is None:
        if not is_chief(getattr(config, "strategy", "default")):
            return config, False      # the chief, running the same command, creates the run
        if run_dir.exists() and any(run_dir.iterdir()):
            raise BadInputError(f"{run_dir}: not empty and holds no {CONFIG}; give a new or empty run folder")
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json(run_dir / CONFIG, asdict(config))
        return config, False
    wanted, merged, fixed = asdict(config), asdict(stored), []
    for key in given:
        if key not in wanted:
            continue
        if key in changeable:
            merged[key] = wanted[key]
        elif merged[key] != wanted[key]:
            fixed.append(f"`{key}` (the run has {merged[key]!r})")
    if fixed:
        raise UsageError(f"{run_dir} is a run with other settings; these can't change on resume: "
                         f"{', '.join(fixed)}. Start a new run folder or leave them out")
    resumed = type(config)(**merged)
    if merged != read_config(run_dir) and is_chief(merged.get("strategy", "default")):
        write_json(run_dir / CONFIG, merged)
    return resumed, True


def run_settings(run_dir: str | Path, settings_class: type[Settings], task: str,
                 required: bool = True) -> Settings | None:
    """The settings of the `task train` run in `run_dir` (to resume, export or describe it). Without a
    run there: an error, or None when not `required`. Another task's run is refused; settings added to
    the trainer after the run began take their defaults."""
    if Path(run_dir).exists() and not Path(run_dir).is_dir():
        raise BadInputError(f"{run_dir}: the run folder is a file")
    if not (Path(run_dir) / CONFIG).exists() and not required:
        return None
    names = {f.name for f in fields(settings_class)}
    stored = renamed_settings(read_config(run_dir), names)
    foreign = set(stored) - names
    if foreign:
        raise BadInputError(f"{run_dir}: not a `visiontk {task} train` run (its settings include "
                            f"{', '.join(sorted(foreign)[:3])}); give another run folder")
    try:
        return settings_class(**stored)
    except TypeError as exc:   # a required setting missing
        raise BadInputError(f"{run_dir}: not a `visiontk {task} train` run ({exc})") from None


def setting(default: Any, help: str | None = None, **meta: Any):
    """A field of a settings dataclass whose metadata makes its `TASK train` option
    (visiontk.cli.common.settings_options): `help`, and `min`, `max`, `min_open` or `choices`."""
    from dataclasses import field

    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help, **meta})
    return field(default=default, metadata={"help": help, **meta})


def make_settings(settings_class: type[Settings], **settings) -> Settings:
    """A settings dataclass from keyword settings, refusing names it doesn't have (a typo would
    otherwise be silently ignored)."""
    unknown = set(settings) - {f.name for f in fields(settings_class)}
    if unknown:
        raise UsageError(f"unknown training settings: {', '.join(sorted(unknown))}")
    return settings_class(**settings)


def read_config(run_dir: str | Path) -> dict:
    """The stored settings of the run in `run_dir`, as a dict (never creates a run)."""
    path = Path(run_dir) / CONFIG
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise BadInputError(f"{run_dir}: not a training run (no {CONFIG})") from None
    except (OSError, ValueError) as exc:
        raise BadInputError(f"{path}: unreadable run settings ({exc})") from None


def write_json(path: Path, data: Any) -> None:
    with atomic_output(path, overwrite=True) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def save_weights(model, path: str | Path, overwrite: bool = True) -> Path:
    """A Keras model's weights, written atomically to `path` (a .weights.h5 name, as Keras requires)."""
    with atomic_output(path, overwrite=overwrite) as tmp:
        keras_tmp = tmp.with_name(tmp.name[:-len(tmp.suffix)] + ".weights.h5")
        try:
            model.save_weights(str(keras_tmp))
            keras_tmp.replace(tmp)
        finally:
            keras_tmp.unlink(missing_ok=True)
    return Path(path)


def step_rng(seed: int, step: int) -> np.random.Generator:
    """The random generator for one training step: the same (seed, step) always gives the same draws."""
    return np.random.default_rng([int(seed) % 2**32, int(step)])


class Checkpoints:
    """The step counter plus the task's trackable objects (models, optimizers), saved with
    tf.train.CheckpointManager in RUN/checkpoints."""

    def __init__(self, run_dir: str | Path, keep: int = 2, chief: bool = True, **objects: Any) -> None:
        tf = tensorflow()
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.seconds = tf.Variable(0.0, dtype=tf.float64, trainable=False, name="seconds")
        checkpoint = tf.train.Checkpoint(step=self.step, seconds=self.seconds, **objects)
        self.directory = str(Path(run_dir) / CHECKPOINTS)
        # Under a multi-worker strategy every worker saves (saving is collective), but only the chief into
        # the run; the others write to a scratch folder, deleted with this object. All resume from the run.
        self._scratch = None if chief else tempfile.TemporaryDirectory(prefix="visiontk-worker-ckpt-")
        self.manager = tf.train.CheckpointManager(checkpoint, self.directory if chief else self._scratch.name,
                                                  max_to_keep=keep)

    def restore(self) -> int:
        """Load the latest checkpoint if there is one; returns the step it was taken at (0: none)."""
        latest = tensorflow().train.latest_checkpoint(self.directory)
        if latest:
            try:
                self.manager.checkpoint.restore(latest).expect_partial()
            except (ValueError, AssertionError, tensorflow().errors.OpError) as exc:
                raise BadInputError(f"{latest}: checkpoint does not fit this run ({exc})") from None
        return int(self.step.numpy())

    def save(self, step: int, seconds: float) -> None:
        self.step.assign(step)
        self.seconds.assign(seconds)
        self.manager.save(checkpoint_number=step)


class Metrics:
    """RUN/metrics.csv: one row per logged step. Rows after `resume_step` (logged after the checkpoint
    a resumed run starts from) are dropped, since the resumed run logs those steps again."""

    def __init__(self, run_dir: str | Path, resume_step: int = 0, chief: bool = True) -> None:
        self.path = Path(run_dir) / METRICS
        self.rows: list[dict] = []
        self.chief = chief      # under a multi-worker strategy only the chief writes the file
        if self.path.exists():
            with self.path.open(newline="") as f:
                self.rows = [row for row in csv.DictReader(f) if int(float(row["step"])) <= resume_step]
            self._write()

    def append(self, row: Mapping[str, Any]) -> None:
        self.rows.append({key: _cell(value) for key, value in row.items()})
        self._write()

    def column(self, name: str) -> tuple[list[float], list[float]]:
        """(steps, values) of one metric, leaving out rows that lack it."""
        pairs = [(float(r["step"]), float(r[name])) for r in self.rows if r.get(name) not in (None, "")]
        return [p[0] for p in pairs], [p[1] for p in pairs]

    def _write(self) -> None:
        if not self.chief:
            return
        fields = list(dict.fromkeys(key for row in self.rows for key in row))
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=fields, restval="")
        writer.writeheader()
        writer.writerows(self.rows)
        with atomic_output(self.path, overwrite=True) as tmp:
            tmp.write_text(buffer.getvalue())


def _cell(value: Any) -> Any:
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.6g}"
    if isinstance(value, np.generic):
        return value.item()
    return value


def train_steps(step: Callable[[int], Mapping[str, float]], *, start: int, total: int,
                checkpoints: Checkpoints, metrics: Metrics, checkpoint_every: int, log_every: int = 10,
                on_progress: Progress | None = None, periodic: Mapping[int, Callable[[int], None]] = {},
                description: str = "train") -> dict:
    """Run `step(n)` for n = start+1 .. total, logging its values every `log_every` steps (averaged over
    them), checkpointing every `checkpoint_every` steps and at the end, and calling each `periodic`
    function every so many steps (samples, validation). SIGTERM or Ctrl-C saves a checkpoint after the
    current step and raises KeyboardInterrupt (exit 130); the same command resumes.

    Returns the last logged row."""
    seconds = float(checkpoints.seconds.numpy())
    pending: dict[str, list[float]] = {}
    last: dict = {"step": start}
    with GracefulStop("saving after the current step (Ctrl-C again to stop now)") as stop, \
            progress(total=total, initial=start, unit="step", desc=description) as bar:
        for n in range(start + 1, total + 1):
            began = time.perf_counter()
            values = step(n)
            seconds += time.perf_counter() - began
            for key, value in values.items():
                pending.setdefault(key, []).append(float(value))
            bar.update(1)
            if n % log_every == 0 or n == total or stop.requested:
                last = {"step": n, "seconds": round(seconds, 1),
                        **{key: float(np.mean(v)) for key, v in pending.items()}}
                pending.clear()
                metrics.append(last)
                bar.set_postfix({k: f"{v:.4g}" for k, v in last.items() if k not in ("step", "seconds")},
                                refresh=False)
                if on_progress is not None:
                    on_progress(dict(last))
            for every, function in periodic.items():
                if every and n % every == 0:
                    function(n)
            if n % checkpoint_every == 0 or n == total or stop.requested:
                checkpoints.save(n, seconds)
            if stop.requested:
                log.warning("stopped at step %d; run the same command again to resume", n)
                raise KeyboardInterrupt
    return last
