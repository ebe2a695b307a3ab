"""Inception Score (Salimans et al. 2016) and Fréchet distance (Heusel et al. 2017) with a judge network."""
from __future__ import annotations

import hashlib
import io
import logging
import warnings
from pathlib import Path

import numpy as np

from visiontk.errors import BadInputError

log = logging.getLogger("visiontk")


def inception_score(probabilities: np.ndarray, splits: int = 10) -> tuple[float, float]:
    """exp(E_x KL(p(y|x) || p(y))), as mean and standard deviation over `splits` equal parts."""
    if splits < 1:
        raise BadInputError("`splits` must be at least 1")
    if len(probabilities) < splits:
        raise BadInputError(f"need at least {splits} images for the Inception Score over {splits} splits")
    scores = []
    for part in np.array_split(probabilities, splits):
        p = np.clip(part, 1e-12, 1.0)
        marginal = p.mean(axis=0, keepdims=True)
        scores.append(np.exp(np.mean(np.sum(p * (np.log(p) - np.log(marginal)), axis=1))))
    return float(np.mean(scores)), float(np.std(scores))


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance(stats_a: tuple[np.ndarray, np.ndarray], stats_b: tuple[np.ndarray, np.ndarray]) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2))."""
    from scipy import linalg   # here, not at the top: it doubles the start-up of every gan command

    (mu_a, sigma_a), (mu_b, sigma_b) = stats_a, stats_b
    with warnings.catch_warnings():
        # Dead ReLU features make the covariances singular; the result is still right to many digits.
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(sigma_a @ sigma_b)
    if not np.all(np.isfinite(covmean)):
        # A singular product: nudge both covariances, as the reference implementation does.
        offset = np.eye(len(sigma_a)) * 1e-6
        covmean = linalg.sqrtm((sigma_a + offset) @ (sigma_b + offset))
    covmean = np.real(covmean)
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(sigma_a) + np.trace(sigma_b) - 2 * np.trace(covmean))


def reference_statistics(judge, reference: str | Path,
                         limit: int | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """The judge's feature mean and covariance on the reference data, cached by file identity."""
    from visiontk.gan.data import load_images
    from visiontk.weights import cache_dir
    from visiontk.weights.registry import write_atomic_bytes

    reference = Path(reference).resolve()
    if not reference.exists():
        raise BadInputError(f"{reference}: reference data not found")
    stat = reference.stat()
    identity = (f"{judge.name}|{judge.weights_sha256}|{reference}|{stat.st_ino}|{stat.st_size}|"
                f"{stat.st_mtime_ns}|{stat.st_ctime_ns}|{limit}")
    key = hashlib.sha256(identity.encode()).hexdigest()
    cached = cache_dir() / "fid-stats" / f"{judge.name}-{key[:24]}.npz"
    if cached.is_file():
        try:
            with np.load(cached) as saved:
                return saved["mu"], saved["sigma"], int(saved["count"])
        except Exception as exc:  # a damaged cache entry is only a lost speed-up: compute it again
            log.debug("ignoring damaged %s: %s", cached, exc)
    images = load_images(reference, judge.input_size, limit=limit)
    if len(images) < 2:
        raise BadInputError(f"{reference}: {len(images)} reference images; the FID needs at least 2")
    _, features = judge.judge(images)
    mu, sigma = feature_statistics(features)
    buffer = io.BytesIO()
    np.savez(buffer, mu=mu, sigma=sigma, count=len(images))
    try:
        write_atomic_bytes(cached, buffer.getvalue())
    except Exception as exc:  # only a speed-up: scoring still works without the cache
        log.debug("could not cache reference statistics: %s", exc)
    return mu, sigma, len(images)


def score(images: str | Path | np.ndarray | None = None, *, model: str | Path | None = None, n: int = 5000,
          reference: str | Path | None = None, judge: str = "fashion-mnist", splits: int = 10,
          seed: int | None = None, reference_limit: int | None = None) -> dict:
    """IS (mean ± std over `splits`) and, with `reference`, FID of images (a data set or an array of
    uint8 images) or of `n` samples of `model`. 4-channel images are judged on their RGB channels."""
    from visiontk.gan.judge import load_judge

    the_judge = load_judge(judge)
    result: dict = {"judge": judge}
    if n < 1 or splits < 1:
        raise BadInputError("`n` and `splits` must be at least 1")
    if images is None:
        from visiontk.gan.generate import latents, resolve_seed
        from visiontk.gan.model import load_model

        generator = load_model(model)
        seed = resolve_seed(seed)
        pixels = generator.images(latents(n, generator.latent_dim, seed))
        result.update(model=generator.name, seed=seed)
    elif isinstance(images, np.ndarray):
        pixels = images
    else:
        from visiontk.gan.data import load_images

        pixels = load_images(images, the_judge.input_size, limit=n)
        result["images"] = str(images)
    if len(pixels) < max(splits, 1):
        raise BadInputError(f"{result.get('images', 'the samples')}: {len(pixels)} images, but the score "
                            f"needs at least one per split (`splits` {splits})")
    if reference is not None and len(pixels) < 2:
        raise BadInputError("the FID needs at least 2 images (their covariance)")
    probabilities, features = the_judge.judge(pixels)
    mean, std = inception_score(probabilities, splits)
    result.update(n=len(pixels), inception_score=round(mean, 4), inception_score_std=round(std, 4),
                  splits=splits)
    if reference is not None:
        mu, sigma, count = reference_statistics(the_judge, reference, reference_limit)
        result.update(fid=round(frechet_distance(feature_statistics(features), (mu, sigma)), 4),
                      reference=str(reference), reference_n=count)
    return result
