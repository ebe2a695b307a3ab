"""Pairs files (CSV or LFW's pairs.txt) and verification metrics: accuracy, the LFW 10-fold protocol,
ROC AUC, TAR at a fixed FAR, and a ROC picture."""
from __future__ import annotations

import csv
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from visiontk.errors import BadInputError

TRUE_WORDS = {"1", "yes", "true", "same", "y"}
FALSE_WORDS = {"0", "no", "false", "different", "n"}


@dataclass
class Pair:
    a: Path
    b: Path
    same: bool | None   # None when the file doesn't say


def read_pairs(path: str | Path, root: str | Path | None = None) -> list[Pair]:
    """Pairs from a CSV (two path columns, an optional third same/different column, an optional header)
    or from LFW's pairs.txt (`name i j` = same, `name1 i name2 j` = different). Relative paths are taken
    from `root`, else from the pairs file's folder."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"{path}: no such pairs file")
    base = Path(root) if root else path.parent
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInputError(f"{path}: unreadable pairs file ({exc})") from None
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise BadInputError(f"{path}: pairs file is empty")
    is_lfw = "," not in lines[0] and all(part.isdigit() for part in lines[0].split())
    pairs = _lfw_pairs(lines[1:], base, path) if is_lfw else _csv_pairs(lines, base, path)
    if not pairs:
        raise BadInputError(f"{path}: no pairs found")
    return pairs


def _lfw_pairs(lines: list[str], root: Path, source: Path) -> list[Pair]:
    def image(name: str, number: str, line: int) -> Path:
        if not number.isdigit():
            raise BadInputError(f"{source}:{line}: {number!r} is not an image number (LFW lines are "
                                "`name i j` or `name1 i name2 j`)")
        return root / name / f"{name}_{int(number):04d}.jpg"

    pairs = []
    for number, line in enumerate(lines, start=2):
        parts = line.split()
        if len(parts) == 3:
            pairs.append(Pair(image(parts[0], parts[1], number), image(parts[0], parts[2], number), True))
        elif len(parts) == 4:
            pairs.append(Pair(image(parts[0], parts[1], number), image(parts[2], parts[3], number), False))
        else:
            raise BadInputError(f"{source}:{number}: expected `name i j` or `name1 i name2 j`")
    return pairs


def _is_header(row: list[str]) -> bool:
    """A first CSV row is a header only if it reads like one: a third column that is not a yes/no
    label (e.g. `same`), or two first cells neither of which names an image file. A row of two image
    paths stays a pair, even when those files are missing (the run then says so)."""
    from visiontk.imageio import is_image_path

    cells = [cell.strip() for cell in row]
    if len(cells) >= 3 and cells[2] and cells[2].lower() not in TRUE_WORDS | FALSE_WORDS:
        return True
    return not any(is_image_path(Path(cell)) for cell in cells[:2])


def _csv_pairs(lines: list[str], root: Path, source: Path) -> list[Pair]:
    rows = list(csv.reader(lines))
    if len(rows[0]) >= 2 and _is_header(rows[0]):
        rows = rows[1:]  # a header such as file_x,file_y,same
        first_line = 2
    else:
        first_line = 1
    pairs = []
    for number, row in enumerate(rows, start=first_line):
        if len(row) < 2:
            raise BadInputError(f"{source}:{number}: expected two image paths separated by a comma")
        same = None
        if len(row) >= 3 and row[2].strip():
            word = row[2].strip().lower()
            if word not in TRUE_WORDS | FALSE_WORDS:
                raise BadInputError(f"{source}:{number}: third column {row[2]!r} is not yes/no")
            same = word in TRUE_WORDS
        pairs.append(Pair(root / row[0].strip(), root / row[1].strip(), same))
    return pairs


# ---- metrics ----------------------------------------------------------------------------------------

def accuracy(distances: np.ndarray, same: np.ndarray, threshold: float) -> float:
    return float(np.mean((distances <= threshold) == same))


def best_threshold(distances: np.ndarray, same: np.ndarray) -> float:
    """The threshold with the highest accuracy (midway between neighbouring distances)."""
    values = np.unique(distances)
    candidates = np.concatenate([[values[0] - 1e-6], (values[:-1] + values[1:]) / 2, [values[-1] + 1e-6]])
    scores = [accuracy(distances, same, t) for t in candidates]
    return float(candidates[int(np.argmax(scores))])


def ten_fold(distances: np.ndarray, same: np.ndarray, folds: int = 10) -> dict:
    """The LFW protocol: for each fold, pick the threshold on the other folds and score this fold."""
    order = np.arange(len(distances))
    splits = np.array_split(order, min(folds, len(distances)))
    scores, thresholds = [], []
    for test in splits:
        train = np.setdiff1d(order, test)
        threshold = best_threshold(distances[train], same[train])
        thresholds.append(threshold)
        scores.append(accuracy(distances[test], same[test], threshold))
    return {"accuracy": float(np.mean(scores)), "accuracy_std": float(np.std(scores)),
            "threshold": float(np.mean(thresholds))}


def roc_curve(distances: np.ndarray, same: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(false accept rate, true accept rate, threshold) as the threshold sweeps the distances."""
    thresholds = np.concatenate([[-np.inf], np.unique(distances)])
    positives, negatives = max(same.sum(), 1), max((~same).sum(), 1)
    tar = np.array([np.sum((distances <= t) & same) / positives for t in thresholds])
    far = np.array([np.sum((distances <= t) & ~same) / negatives for t in thresholds])
    return far, tar, thresholds


def roc_auc(distances: np.ndarray, same: np.ndarray) -> float:
    far, tar, _ = roc_curve(distances, same)
    return float(np.trapezoid(tar, far))


def tar_at_far(distances: np.ndarray, same: np.ndarray, far_target: float = 1e-3) -> float:
    """The true accept rate at the largest threshold whose false accept rate is at most `far_target`."""
    far, tar, _ = roc_curve(distances, same)
    allowed = far <= far_target
    return float(tar[allowed].max()) if allowed.any() else 0.0


def metrics(distances: np.ndarray, same: np.ndarray, max_distance: float) -> dict:
    """Everything `face eval` reports. ("threshold" repeats max_distance for one release: JSON readers of
    0.x look for it; cv_threshold and best_threshold are the LFW protocol's names for distances.)"""
    distances, same = np.asarray(distances, float), np.asarray(same, bool)
    if same.all() or not same.any():
        raise BadInputError("pairs must include both same-person and different-person pairs to evaluate")
    folds = ten_fold(distances, same)
    return {"pairs": int(len(same)), "same_pairs": int(same.sum()), "max_distance": max_distance,
            "threshold": max_distance, "accuracy": accuracy(distances, same, max_distance),
            "cv_accuracy": folds["accuracy"], "cv_accuracy_std": folds["accuracy_std"],
            "cv_threshold": folds["threshold"], "best_threshold": best_threshold(distances, same),
            "roc_auc": roc_auc(distances, same), "tar_at_far_1e-3": tar_at_far(distances, same, 1e-3),
            "max_same_distance": float(distances[same].max()),
            "min_different_distance": float(distances[~same].min())}


def draw_roc(path: str | Path, distances: np.ndarray, same: np.ndarray, title: str = "ROC") -> None:
    """The ROC curve (true accept rate against false accept rate) as a PNG, with chance's diagonal."""
    from visiontk.charts import line_chart

    far, tar, _ = roc_curve(np.asarray(distances, float), np.asarray(same, bool))
    series = {"ROC": (np.append(far, 1.0), np.append(tar, 1.0)), "chance": ([0, 1], [0, 1])}
    line_chart(path, {f"{title}  (AUC {roc_auc(distances, same):.4f})": series},
               xlabel="false accept rate", ylabel="true accept rate", width=4.8, height=4.8)


# ---- pairs through the network ------------------------------------------------------------------------

class EmbeddingCache:
    """Each image embedded once (its largest face), however many pairs it is in."""

    def __init__(self, model=None, **detect_options):
        from visiontk.face.model import load_model
        self.model = model or load_model()
        self.detect_options = detect_options
        self._seen: dict[Path, object] = {}

    def __call__(self, path: Path) -> np.ndarray:
        from visiontk.errors import VisiontkError
        from visiontk.face.recognize import embed

        if path not in self._seen:
            try:
                self._seen[path] = embed(path, model=self.model, **self.detect_options).embedding
            except VisiontkError as exc:
                self._seen[path] = exc
        found = self._seen[path]
        if isinstance(found, Exception):
            raise found
        return found


@dataclass
class PairVerdict:
    """One pair through the network: its distance, or the error of an image without a face."""

    pair: Pair
    max_distance: float
    distance: float | None = None
    error: Exception | None = None

    @property
    def same(self) -> bool | None:
        return None if self.distance is None else self.distance <= self.max_distance

    @property
    def threshold(self) -> float:
        """The old name of `max_distance`."""
        warnings.warn("PairVerdict.threshold is deprecated, use max_distance", DeprecationWarning, stacklevel=2)
        return self.max_distance


def verify_pairs(pairs: Iterable[Pair], *, model=None, max_distance: float | None = None,
                 min_confidence: float | None = None, min_face: int | None = None,
                 threshold: float | None = None) -> Iterator[PairVerdict]:
    """Each pair's distance and answer at `max_distance` (default: the model's), embedding every image
    once; a pair with an image where no face is found gets that NoFaceError instead of a distance.
    (`threshold`: old name of `max_distance`.)"""
    from visiontk.compat import renamed_keyword
    from visiontk.errors import NoFaceError

    max_distance = renamed_keyword("threshold", "max_distance", threshold, max_distance)

    detect_options = {key: value for key, value in (("min_confidence", min_confidence), ("min_face", min_face))
                      if value is not None}
    cache = EmbeddingCache(model, **detect_options)
    max_distance = cache.model.max_distance if max_distance is None else max_distance
    for pair in pairs:
        try:
            yield PairVerdict(pair, max_distance, distance=float(np.linalg.norm(cache(pair.a) - cache(pair.b))))
        except NoFaceError as exc:
            yield PairVerdict(pair, max_distance, error=exc)


def evaluate_pairs(pairs_file: str | Path, root: str | Path | None = None, *, model=None,
                   max_distance: float | None = None, min_confidence: float | None = None,
                   min_face: int | None = None, roc: str | Path | None = None, overwrite: bool = False,
                   threshold: float | None = None) -> dict:
    """Metrics of the model on a labelled pairs file. Pairs where a face isn't found count as
    'different' (as in LFW's unrestricted protocol, every pair gets an answer); they are counted in
    `no_face`. The result also holds the `distances` and `same` arrays (for draw_roc); with `roc` the ROC
    curve is drawn to that PNG (checked before the work) and named in the result. (`threshold`: old name
    of `max_distance`.)"""
    from visiontk.atomic import check_output
    from visiontk.compat import renamed_keyword
    from visiontk.face.model import load_model
    from visiontk.runtime import progress

    max_distance = renamed_keyword("threshold", "max_distance", threshold, max_distance)
    if roc is not None:
        check_output(Path(roc), overwrite)
    pairs = read_pairs(pairs_file, root)
    if any(pair.same is None for pair in pairs):
        raise BadInputError(f"{pairs_file}: every pair needs a same/different label to evaluate")
    model = load_model(model)
    verdicts = list(verify_pairs(progress(pairs, desc="pairs", unit="pair"), model=model, max_distance=max_distance,
                                 min_confidence=min_confidence, min_face=min_face))
    same = np.array([pair.same for pair in pairs])
    distances = np.array([np.inf if v.distance is None else v.distance for v in verdicts])
    finite = np.where(np.isfinite(distances), distances, np.nanmax(np.where(np.isfinite(distances),
                                                                            distances, 0)) + 10)
    result = metrics(finite, same, verdicts[0].max_distance)
    result.update(model=model.name, no_face=sum(v.error is not None for v in verdicts), distances=finite,
                  same=same)
    if roc is not None:
        draw_roc(roc, finite, same, title=f"{model.name} on {Path(pairs_file).name}")
        result["roc"] = str(roc)
    return result


def describe_evaluation(result: dict) -> str:
    """The text a person reads for an `evaluate_pairs` result."""
    return "\n".join([
        f"model {result['model']}, {result['pairs']} pairs ({result['same_pairs']} same), "
        f"{result['no_face']} with no face found",
        f"accuracy at max distance {result['max_distance']:g}: {result['accuracy']:.4f}",
        f"10-fold accuracy: {result['cv_accuracy']:.4f} +- {result['cv_accuracy_std']:.4f} "
        f"(threshold {result['cv_threshold']:.3f})",
        f"ROC AUC: {result['roc_auc']:.4f}   TAR at FAR 1e-3: {result['tar_at_far_1e-3']:.4f}",
        f"largest same-person distance {result['max_same_distance']:.3f}, smallest different-person "
        f"distance {result['min_different_distance']:.3f}"])
