"""Old spellings that still work for one release, gathered here so that they are easy to find and to drop.

REMOVAL: everything in this module goes in visiontk 0.3. Until then each old spelling works and, from
Python, warns with a DeprecationWarning naming the new one.

- Training options: `--lr` is `--learning-rate` and `--batch` is `--batch-size` (hidden aliases of every
  `TASK train` command, see visiontk.cli.common.settings_options).
- Run folders: a config.json written before a setting was renamed is read with the new name
  (`batch` -> `batch_size`), so older runs resume.
"""
from __future__ import annotations

# Old option spelling -> the settings field it sets (hidden aliases of the `TASK train` commands).
OLD_OPTION_SPELLINGS = {"--lr": "learning_rate", "--batch": "batch_size"}

# Old settings key in a run's config.json -> its name now.
RENAMED_SETTINGS = {"batch": "batch_size"}


def renamed_settings(stored: dict, names: set[str]) -> dict:
    """A run's stored settings with old keys renamed, where the settings class (`names`) has the new one."""
    return {RENAMED_SETTINGS.get(key, key) if RENAMED_SETTINGS.get(key) in names else key: value
            for key, value in stored.items()}
