"""Old spellings that still work for one release, gathered here so that they are easy to find and to drop.

REMOVAL: everything in this module goes in visiontk 0.3. Until then each old spelling works and, from
Python, warns with a DeprecationWarning naming the new one.

- Training options: `--lr` is `--learning-rate` and `--batch` is `--batch-size` (hidden aliases of every
  `TASK train` command, see visiontk.cli.common.settings_options).
- Run folders: a config.json written before a setting was renamed is read with the new name
  (`batch` -> `batch_size`), so older runs resume.
- `gan train -o RUN` is `--out RUN`, as in every `TASK train` (`-o` names an output file elsewhere);
  `gan train --width` is `--filters` (as in `stylize train`; `sr upscale --width` is an output size).
- Other options that meant something else in another command, now spelled as there: `gan generate
  --scale` is `--zoom` (as `sr compare`), `gan interpolate --steps` is `-n` (as `gan generate`), `sr compare
  --crop` is `--region` (`--crop` is a training crop size in `stylize train`). Each old name is a hidden
  alias (visiontk.cli.common.OldNameOption).
- Setting values: `sr train --precision mixed_bfloat16` is `--precision bfloat16`, the value every other
  command uses for the same idea (accepted, not shown; a run folder that stored it resumes).
"""
from __future__ import annotations

import re
import warnings

# Old option spelling -> the settings field it sets (hidden aliases of the `TASK train` commands).
OLD_OPTION_SPELLINGS = {"--lr": "learning_rate", "--batch": "batch_size", "--width": "width"}

# Old settings key in a run's config.json -> its name now.
RENAMED_SETTINGS = {"batch": "batch_size"}

# Setting -> {old value: its value now}, for options and run folders alike.
RENAMED_VALUES = {"precision": {"mixed_bfloat16": "bfloat16"}}


def renamed_value(name: str, value):
    """`value` of setting `name`, or what it is called now when it is an old value."""
    old = RENAMED_VALUES.get(name, {})
    return old.get(value, value) if isinstance(value, str) else value


def current_command(command: str) -> str:
    """A run's stored `TASK train` command line spelled as it would be typed today (`--lr`, `--batch` and
    old setting values renamed), for the model cards that show it."""
    for old, field in OLD_OPTION_SPELLINGS.items():  # `--width` maps onto itself: left as it is
        command = re.sub(rf"(?<=\s){old}(?=[\s=])", "--" + field.replace("_", "-"), command)
    for field, values in RENAMED_VALUES.items():
        for old, new in values.items():
            command = re.sub(rf"(--{field.replace('_', '-')}[\s=]){old}\b", rf"\g<1>{new}", command)
    return command


def renamed_settings(stored: dict, names: set[str]) -> dict:
    """A run's stored settings with old keys and values renamed, where the settings class (`names`) has
    the new key."""
    renamed = {RENAMED_SETTINGS.get(key, key) if RENAMED_SETTINGS.get(key) in names else key: value
               for key, value in stored.items()}
    return {key: renamed_value(key, value) for key, value in renamed.items()}


# ---- face ------------------------------------------------------------------------------------------------
# REMOVAL 0.3, as above. The face API's two cut-offs were both once called `threshold`: the detector's
# confidence is now `min_confidence` (`--min-confidence`; it was `--threshold` in `face detect` and
# `--detect-threshold` elsewhere) and the same-person distance `max_distance` (`--max-distance`, was
# `--threshold`). Old keywords go through `renamed_keyword`; face.DEFAULT_THRESHOLD and
# face.detect.DEFAULT_THRESHOLD through `renamed_constants`; FaceModel.threshold, Verification.threshold and
# PairVerdict.threshold are properties that warn; a trained model's NAME.json may still say `threshold`.
# `face train`'s old form (-o M.keras trains into M.keras.ckpt and exports; --checkpoint-dir for --out;
# --resume) stays as hidden options of that command.

# The `face` commands' old option spellings: {new option: {command: old spelling}}; "*": every other face
# command that has the new option.
FACE_OLD_OPTIONS = {"--min-confidence": {"detect": "--threshold", "*": "--detect-threshold"},
                    "--max-distance": {command: "--threshold" for command in ("verify", "identify", "eval")}}


def renamed_keyword(old_name: str, new_name: str, old_value, new_value):
    """`new_value`, or `old_value` when a caller still passes the keyword under its old name (then with a
    DeprecationWarning pointing at the caller's line)."""
    if old_value is None:
        return new_value
    warnings.warn(f"{old_name}= is deprecated, use {new_name}=", DeprecationWarning, stacklevel=3)
    return old_value


def renamed_constants(module: str, renames: dict[str, tuple[str, object]]):
    """A module `__getattr__` that still answers each old name in `renames` ({old: (new name, value)})
    with its value and a DeprecationWarning; other unknown names are AttributeErrors as usual."""
    def __getattr__(name: str):
        if name not in renames:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        new_name, value = renames[name]
        warnings.warn(f"{module}.{name} is deprecated, use {new_name}", DeprecationWarning, stacklevel=2)
        return value
    return __getattr__


# ---- sr --------------------------------------------------------------------------------------------------
# REMOVAL 0.3, as above. `sr train`'s options come from visiontk.sr.training.TrainConfig: `--batch` is
# `--batch-size` and `--lr` `--learning-rate` (OLD_OPTION_SPELLINGS); a run's config.json with `batch`
# resumes (RENAMED_SETTINGS; checked on a run started before the rename, as training-runs/wdsr-x4 was).
# `sr train --seed N` stays a hidden option standing for the global `visiontk --seed N`. From Python,
# `sr.TrainConfig(batch=N)` sets batch_size and `config.batch` reads it, with a DeprecationWarning.
# load_model, default_model, resolve_scale, weights_path and load_predictor moved from visiontk.sr.upscale
# to visiontk.sr.model and stay importable from visiontk.sr.upscale.
SR_TRAIN_SEED_OPTION = "--seed"
