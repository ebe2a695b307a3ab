"""EDSR super-resolution: upscale images, train models, and evaluate them with the standard protocol.

    >>> from visiontk import sr
    >>> sr.upscale("photo.png", "photo_x4.png", scale=4)
    >>> sr.evaluate("Set5/", scale=2)["mean"]["psnr"]
    >>> sr.train(sr.TrainConfig(hr_dirs=["bsds500/train"], scale=2), "runs/x2")
"""
from __future__ import annotations

from visiontk.sr.training import TrainConfig, train

__all__ = ["TrainConfig", "train"]
