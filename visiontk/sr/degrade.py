"""How low-resolution images are made from high-resolution ones: the bicubic downscaling used by training,
evaluation and the bicubic baseline (so that all three agree), and the random "real-world" degradation
(blur, resize, noise, JPEG) that `sr train --degradation real` trains on."""
from __future__ import annotations

import io
from dataclasses import dataclass, fields

import numpy as np
from PIL import Image

from visiontk.errors import BadInputError
from visiontk.imageio import resize


def crop_to_multiple(hr: np.ndarray, scale: int) -> np.ndarray:
    """Crop the bottom/right so that both sides are multiples of `scale`."""
    h, w = hr.shape[0] - hr.shape[0] % scale, hr.shape[1] - hr.shape[1] % scale
    return hr[:h, :w]


def min_scorable_side(scale: int) -> int:
    """The smallest HR side that can be scored at `scale`: after shaving `scale` pixels off each border,
    SSIM's 11x11 window must fit."""
    return 2 * scale + 11


def check_scorable(hr: np.ndarray, scale: int, name: str) -> None:
    """BadInputError unless `hr` (cropped to a multiple of `scale`) is large enough to score at `scale`."""
    side = min_scorable_side(scale)
    if min(hr.shape[:2]) < side:
        raise BadInputError(f"{name}: {hr.shape[1]}x{hr.shape[0]} is too small to downscale x{scale} and "
                            f"score (each side needs at least {side} px)")


def downscale(hr: np.ndarray, scale: int) -> np.ndarray:
    """LR = PIL-bicubic downscaling of `hr` (cropped to a multiple of `scale`) by `scale`."""
    hr = crop_to_multiple(hr, scale)
    return resize(hr, (hr.shape[1] // scale, hr.shape[0] // scale))


def bicubic_upscale(lr: np.ndarray, scale: int) -> np.ndarray:
    """The baseline: PIL-bicubic upscaling by `scale`."""
    return resize(lr, (lr.shape[1] * scale, lr.shape[0] * scale))


# ---- synthetic real-world degradations (Real-ESRGAN-style, Wang et al. 2021) -------------------------

RESIZE_FILTERS = {"bicubic": Image.BICUBIC, "bilinear": Image.BILINEAR, "area": Image.BOX}
TRAIN_STREAM, VALIDATION_STREAM = 0, 1


@dataclass(frozen=True)
class Degradation:
    """Parameters of the random degradation that turns an HR photo into a "real" LR one.

    First order: Gaussian blur of the HR image (isotropic or anisotropic, sigma in HR pixels), downscaling
    by the model's scale with a random filter, Gaussian or Poisson noise, JPEG at a random quality.
    Second order (with probability `second_order`): a milder blur, noise and JPEG again at the LR size,
    as when a photo is compressed, resized and re-shared. The defaults cover mild blur, sensor noise up to
    sigma ~10 and JPEG quality 30-95: what phone and web photos carry, without the heavy blur that would
    teach the network to over-sharpen clean inputs.
    """
    blur_prob: float = 0.5
    blur_sigma: tuple[float, float] = (0.2, 1.6)
    anisotropic_prob: float = 0.5
    resize_methods: tuple[str, ...] = ("bicubic", "bilinear", "area")
    noise_prob: float = 0.6
    poisson_prob: float = 0.4            # share of noisy samples whose noise is Poisson, not Gaussian
    gaussian_sigma: tuple[float, float] = (1.0, 10.0)
    poisson_peak: tuple[float, float] = (300.0, 5000.0)  # photons at full scale: fewer is noisier
    gray_noise_prob: float = 0.3         # the same noise in all channels (luminance noise)
    jpeg_prob: float = 0.9
    jpeg_quality: tuple[int, int] = (30, 95)
    second_order: float = 0.3
    second_blur_sigma: tuple[float, float] = (0.2, 0.8)  # in LR pixels
    second_noise_scale: float = 0.5      # the second noise's sigma range, relative to the first's

    @classmethod
    def from_dict(cls, values: dict) -> "Degradation":
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown degradation parameters: {', '.join(sorted(unknown))}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


def sample_rng(seed: int, stream: int, index: int) -> np.random.Generator:
    """The generator for sample `index` of `stream`: the same draws on every run and resume."""
    return np.random.default_rng([int(seed), int(stream), int(index)])


def gaussian_kernel(sigma_x: float, sigma_y: float, theta: float) -> np.ndarray:
    """A normalised 2-D Gaussian with standard deviations sigma_x/sigma_y along axes rotated by theta."""
    radius = max(1, int(np.ceil(3 * max(sigma_x, sigma_y))))
    yy, xx = np.mgrid[-radius:radius + 1, -radius:radius + 1].astype(np.float64)
    cos, sin = np.cos(theta), np.sin(theta)
    u, v = cos * xx + sin * yy, -sin * xx + cos * yy
    kernel = np.exp(-0.5 * ((u / sigma_x) ** 2 + (v / sigma_y) ** 2))
    return (kernel / kernel.sum()).astype(np.float32)


def random_blur(image: np.ndarray, rng: np.random.Generator, sigma_range: tuple[float, float],
                anisotropic_prob: float) -> np.ndarray:
    """Blur a float (H, W, C) image with a random isotropic or anisotropic Gaussian."""
    import cv2

    sigma_x = rng.uniform(*sigma_range)
    if rng.random() < anisotropic_prob:
        sigma_y, theta = rng.uniform(*sigma_range), rng.uniform(0, np.pi)
    else:
        sigma_y, theta = sigma_x, 0.0
    kernel = gaussian_kernel(sigma_x, sigma_y, theta)
    # A Gaussian is point-symmetric, so filter2D's correlation is the convolution.
    out = cv2.filter2D(image, -1, kernel, borderType=cv2.BORDER_REFLECT_101)
    return out.reshape(image.shape)


def random_noise(image: np.ndarray, rng: np.random.Generator, params: Degradation,
                 strength: float = 1.0) -> np.ndarray:
    """Add Gaussian (sigma in 0-255 units) or Poisson (shot) noise, per channel or shared (gray)."""
    gray = rng.random() < params.gray_noise_prob
    shape = image.shape[:2] + (1,) if gray else image.shape
    if rng.random() < params.poisson_prob:
        peak = rng.uniform(*params.poisson_peak) / strength ** 2
        level = image.mean(axis=2, keepdims=True) if gray else image
        shot = rng.poisson(np.clip(level, 0, 255) / 255 * peak, size=shape) / peak * 255 - level
        return image + shot
    sigma = rng.uniform(*params.gaussian_sigma) * strength
    return image + rng.normal(0.0, sigma, size=shape)


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """Round-trip a uint8 image through PIL's JPEG codec (4:2:0 chroma, as most cameras and sites)."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=int(quality))
    buffer.seek(0)
    return np.asarray(Image.open(buffer).convert("RGB"))


def to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def degrade(hr: np.ndarray, scale: int, rng: np.random.Generator, params: Degradation) -> np.ndarray:
    """A random "real" LR version of the uint8 (H, W, 3) `hr` (sides multiples of `scale`)."""
    image = hr.astype(np.float32)
    if rng.random() < params.blur_prob:
        image = random_blur(image, rng, params.blur_sigma, params.anisotropic_prob)
    method = params.resize_methods[rng.integers(len(params.resize_methods))]
    size = (hr.shape[1] // scale, hr.shape[0] // scale)
    lr = np.asarray(Image.fromarray(to_uint8(image)).resize(size, RESIZE_FILTERS[method])).astype(np.float32)
    lr = _noise_and_jpeg(lr, rng, params, 1.0)
    if rng.random() < params.second_order:
        image = random_blur(lr.astype(np.float32), rng, params.second_blur_sigma, params.anisotropic_prob)
        lr = _noise_and_jpeg(image, rng, params, params.second_noise_scale)
    return lr


def _noise_and_jpeg(image: np.ndarray, rng: np.random.Generator, params: Degradation,
                    strength: float) -> np.ndarray:
    if rng.random() < params.noise_prob:
        image = random_noise(image, rng, params, strength)
    out = to_uint8(image)
    if rng.random() < params.jpeg_prob:
        out = jpeg(out, rng.integers(params.jpeg_quality[0], params.jpeg_quality[1] + 1))
    return out


# ---- fixed "real" test inputs: the same degraded LR on every run, for benchmarks and `sr eval` ---------

def _jpeg40(lr: np.ndarray) -> np.ndarray:
    return jpeg(lr, 40)


def _noise5_jpeg75(lr: np.ndarray) -> np.ndarray:
    noise = np.random.default_rng(0).normal(0.0, 5.0, size=lr.shape)  # the same noise for every run
    return jpeg(to_uint8(lr.astype(np.float64) + noise), 75)


# Applied to the bicubic LR: "jpeg40" = JPEG quality 40; "noise5-jpeg75" = Gaussian noise sigma 5, then JPEG 75.
TEST_DEGRADATIONS = {"jpeg40": _jpeg40, "noise5-jpeg75": _noise5_jpeg75}
