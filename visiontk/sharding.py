"""Split a batch between N independent processes (`--shard K/N`), with no coordination between them.

The rule: sort the batch's inputs by path; shard K (numbered from 0) takes the inputs at sorted
positions K, K+N, K+2N, ... Round-robin rather than contiguous blocks, so that a folder of big images
next to a folder of small ones still splits evenly. Every process computes the same split from the
same inputs, so N processes cover every input exactly once; each shard keeps the inputs' own order.

`auto` takes the shard from the scheduler that started the process: a SLURM job array
(SLURM_ARRAY_TASK_ID among SLURM_ARRAY_TASK_MIN..MAX, SLURM_ARRAY_TASK_COUNT tasks, any step) or a
Kubernetes indexed Job (JOB_COMPLETION_INDEX, with the Job's completions in VISIONTK_SHARD_COUNT,
which Kubernetes doesn't put in the environment). Those variables are only read when asked to, with
`auto`: a job array whose tasks each process their own folder must not be split a second time.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping, Sequence, TypeVar

from visiontk.errors import UsageError

T = TypeVar("T")


@dataclass(frozen=True)
class Shard:
    index: int   # 0 .. count-1
    count: int

    def select(self, items: Sequence[T]) -> list[T]:
        """This shard's items, in their given order."""
        by_path = sorted(range(len(items)), key=lambda i: str(items[i]))
        mine = set(by_path[self.index::self.count])
        return [item for i, item in enumerate(items) if i in mine]

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str, environ: Mapping[str, str] | None = None) -> Shard:
    """`K/N` (K from 0 to N-1) or `auto` (the scheduler's index; see the module's docstring)."""
    text = text.strip()
    if text == "auto":
        return scheduler_shard(os.environ if environ is None else environ)
    index, slash, count = text.partition("/")
    try:
        shard = Shard(int(index), int(count))
    except ValueError:
        raise UsageError(f"`shard` {text}: give K/N, e.g. 0/4 (shards are numbered 0 to N-1), "
                         "or auto") from None
    if not slash or shard.count < 1 or not 0 <= shard.index < shard.count:
        raise UsageError(f"`shard` {text}: K must be from 0 to N-1 (0/{max(shard.count, 1)} is the first "
                         "shard)")
    return shard


def scheduler_shard(environ: Mapping[str, str]) -> Shard:
    """The shard of a SLURM array task or a Kubernetes indexed Job's pod."""
    if "SLURM_ARRAY_TASK_ID" in environ:
        return _slurm_shard(environ)
    if "JOB_COMPLETION_INDEX" in environ:
        if "VISIONTK_SHARD_COUNT" not in environ:
            raise UsageError("`shard` auto in a Kubernetes indexed Job: set VISIONTK_SHARD_COUNT to the "
                             "Job's completions in the pod's environment")
        return _checked(environ["JOB_COMPLETION_INDEX"], environ["VISIONTK_SHARD_COUNT"],
                        "JOB_COMPLETION_INDEX")
    raise UsageError("`shard` auto: not a SLURM array task or Kubernetes indexed Job (no "
                     "SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX); give `shard` K/N")


def _slurm_shard(environ: Mapping[str, str]) -> Shard:
    try:
        task, first, last = (int(environ[f"SLURM_ARRAY_TASK_{key}"]) for key in ("ID", "MIN", "MAX"))
        count = int(environ["SLURM_ARRAY_TASK_COUNT"])
        step = int(environ.get("SLURM_ARRAY_TASK_STEP", "1"))
    except (KeyError, ValueError):
        raise UsageError("`shard` auto: SLURM_ARRAY_TASK_ID/MIN/MAX/COUNT incomplete; "
                         "give `shard` K/N") from None
    # Only a regular range (--array=1-8 or 0-30:3) numbers its tasks 0..count-1 unambiguously;
    # a list such as --array=1,4,9 does not.
    if step < 1 or (last - first) // step + 1 != count or (task - first) % step:
        raise UsageError(f"`shard` auto: SLURM array {first}-{last}:{step} with {count} tasks is not a "
                         "regular range; give `shard` K/N")
    return _checked(str((task - first) // step), str(count), "SLURM_ARRAY_TASK_ID")


def _checked(index: str, count: str, source: str) -> Shard:
    try:
        return parse_shard(f"{int(index)}/{int(count)}")
    except ValueError:
        raise UsageError(f"`shard` auto: {source}={index} of {count} is not a shard number") from None
