"""Super-resolution with EDSR and WDSR-B (and SRGAN-style fine-tuning of either): upscale photos and clips,
train models, and evaluate them with the standard protocol (PSNR/SSIM, plus a VGG16 perceptual distance).

    >>> from visiontk import sr
    >>> sr.upscale("photo.png", "photo_x4.png", scale=4)              # a photo or a clip
    >>> upscaler = sr.Upscaler(2, "edsr-x2")                           # one network for many files
    >>> sr.upscale_file(upscaler, "clip.mp4", "clip_x2.mp4")
    >>> sr.evaluate("Set5/", scale=2)["mean"]["psnr"]
    >>> sr.train(["bsds500/train"], "runs/x2", sr.TrainConfig(scale=2, steps=1000))   # again: resumes
    >>> sr.train(["bsds500/train"], "runs/w4", sr.TrainConfig(arch="wdsr", scale=4, learning_rate=1e-3))
    >>> sr.export("runs/x2", "mine-x2.weights.h5")
    >>> sr.load_model("edsr-x4")                                       # the Keras network
    >>> sr.side_by_side("Set5/butterfly.png", "butterfly_x4.png", 4)  # bicubic | EDSR | original
"""
from __future__ import annotations

from visiontk.sr.compare import side_by_side
from visiontk.sr.evaluate import evaluate
from visiontk.sr.export import export
from visiontk.sr.model import load_model, resolve_scale
from visiontk.sr.training import TrainConfig, train
from visiontk.sr.upscale import Upscaler, check_outscale, output_suffix, upscale, upscale_file

__all__ = ["TrainConfig", "Upscaler", "check_outscale", "evaluate", "export", "load_model", "output_suffix",
           "resolve_scale", "side_by_side", "train", "upscale", "upscale_file"]
