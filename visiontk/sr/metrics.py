"""The standard super-resolution evaluation protocol: PSNR and SSIM on the Y channel of ITU-R BT.601,
with `scale` pixels cropped from each border (as in the EDSR, RCAN and BasicSR papers and code)."""
from __future__ import annotations

import numpy as np

# ITU-R BT.601 luma for studio-range Y (16..235) from RGB in [0, 255].
_Y_WEIGHTS = np.array([65.481, 128.553, 24.966]) / 255.0


def luma(rgb: np.ndarray) -> np.ndarray:
    """Y of BT.601 (16..235) as float64, from an (H, W, 3) RGB array in [0, 255]."""
    return 16.0 + np.asarray(rgb, dtype=np.float64) @ _Y_WEIGHTS


def shave(image: np.ndarray, border: int) -> np.ndarray:
    return image[border:-border, border:-border] if border > 0 else image


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(peak * peak / mse)


def ssim(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    """SSIM of Wang et al. (2004): 11x11 Gaussian window, sigma 1.5, over the valid region."""
    import cv2

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
    kernel = cv2.getGaussianKernel(11, 1.5)
    window = np.outer(kernel, kernel.T)

    def blur(x):
        return cv2.filter2D(x, -1, window)[5:-5, 5:-5]

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a ** 2
    var_b = blur(b * b) - mu_b ** 2
    cov = blur(a * b) - mu_a * mu_b
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return float(ssim_map.mean())


def y_psnr_ssim(sr: np.ndarray, hr: np.ndarray, scale: int) -> tuple[float, float]:
    """PSNR and SSIM on BT.601 Y with `scale` border pixels removed; `sr` is rounded to uint8 first,
    as a saved image would be."""
    sr = np.clip(np.round(np.asarray(sr, np.float64)), 0, 255)
    y_sr, y_hr = shave(luma(sr), scale), shave(luma(hr), scale)
    return psnr(y_sr, y_hr), ssim(y_sr, y_hr)


# The LPIPS-VGG taps (Zhang et al. 2018): the last ReLU of each of VGG16's five blocks (Keras' conv layers
# include their ReLU, so block1_conv2's output is relu1_2).
PERCEPTUAL_LAYERS = ("block1_conv2", "block2_conv2", "block3_conv3", "block4_conv3", "block5_conv3")


class PerceptualDistance:
    """A VGG-feature distance to the ground truth in the spirit of LPIPS, without its learned weights:
    ImageNet VGG16 (caffe preprocessing: RGB->BGR, ImageNet mean removed) at PERCEPTUAL_LAYERS; at each
    pixel of each layer the feature vector is scaled to unit length over its channels, the squared
    difference of the two images' unit vectors summed over the channels and averaged over the pixels;
    the distance is the mean over the five layers. 0 for identical images, at most 4; lower is closer.

    LPIPS "lin" weights per channel are learned from human judgements, which we don't have: uniform
    weights are the paper's "baseline" variant, which ranks distortions close to the learned one."""

    def __init__(self) -> None:
        from visiontk.backbones.vgg import vgg_extractor

        self.extractor = vgg_extractor("vgg16", PERCEPTUAL_LAYERS)

    def __call__(self, image: np.ndarray, reference: np.ndarray, border: int = 0) -> float:
        """The distance of an (H, W, 3) RGB image in [0, 255] to `reference`, `border` pixels cropped."""
        pair = np.stack([shave(np.asarray(image, np.float32), border),
                         shave(np.asarray(reference, np.float32), border)])
        features = self.extractor(pair, training=False)
        return float(np.mean([_unit_distance(features[layer].numpy()) for layer in PERCEPTUAL_LAYERS]))


def _unit_distance(pair: np.ndarray) -> float:
    unit = pair / (np.sqrt(np.sum(pair.astype(np.float64) ** 2, axis=-1, keepdims=True)) + 1e-10)
    return float(np.mean(np.sum((unit[0] - unit[1]) ** 2, axis=-1)))
