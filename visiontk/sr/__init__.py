"""Super-resolution with EDSR and WDSR-B (and SRGAN-style fine-tuning of either): upscale images, train
models, and evaluate them with the standard protocol (PSNR/SSIM, plus a VGG16 perceptual distance).

    >>> from visiontk import sr
    >>> sr.upscale("photo.png", "photo_x4.png", scale=4)
    >>> sr.evaluate("Set5/", scale=2)["mean"]["psnr"]
    >>> sr.train(["bsds500/train"], "runs/x2", sr.TrainConfig(scale=2, steps=1000))   # again: resumes
    >>> sr.train(["bsds500/train"], "runs/w4", sr.TrainConfig(arch="wdsr", scale=4, learning_rate=1e-3))
    >>> sr.export("runs/x2", "mine-x2.weights.h5")
"""
from __future__ import annotations

from visiontk.sr.evaluate import evaluate
from visiontk.sr.export import export
from visiontk.sr.training import TrainConfig, train
from visiontk.sr.upscale import Upscaler, load_model, upscale

__all__ = ["TrainConfig", "Upscaler", "evaluate", "export", "load_model", "train", "upscale"]
