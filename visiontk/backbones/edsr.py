"""EDSR: Enhanced Deep Residual Networks for Single Image Super-Resolution (Lim et al., 2017).

No batch norm; a head convolution, `blocks` residual blocks (conv-ReLU-conv, residual scaled by
`res_scaling`), a body-closing convolution and a long skip, then sub-pixel upsampling and a tail
convolution. Pixels go in and come out in [0, 255]; the model subtracts the DIV2K RGB mean and divides
by 127.5 itself.

The layers carrying weights come in the same order and shapes as in krasserm's `super-resolution`
EDSR (head, block convs, body conv, one upsampling conv per x2 step or one for x3, tail), so that his
published weights can be mapped onto this model layer by layer (see `visiontk.sr.krasserm`).
"""
from __future__ import annotations

from visiontk.backbones.blocks import conv3x3, mean_shift, pixel_shuffle, residual_block
from visiontk.weights import load_into

DIV2K_RGB_MEAN = (0.4488 * 255, 0.4371 * 255, 0.4040 * 255)
PIXEL_SCALE = 127.5
SCALES = (2, 3, 4)


def upsampling_factors(scale: int) -> tuple[int, ...]:
    """x2 and x3 upsample in one sub-pixel step, x4 in two x2 steps (as in the paper)."""
    if scale not in SCALES:
        raise ValueError(f"EDSR scale must be one of {SCALES}, not {scale}")
    return (2, 2) if scale == 4 else (scale,)


def EDSR(scale: int = 4, blocks: int = 16, features: int = 64, res_scaling: float | None = None,
         name: str | None = None, weights=None):
    """Build EDSR for `scale` (2, 3 or 4). Defaults: EDSR-baseline (16 blocks x 64 features, no scaling);
    the paper's full EDSR is `blocks=32, features=256, res_scaling=0.1`.

    Input: (batch, H, W, 3) float RGB in [0, 255], any H and W. Output: (batch, H*scale, W*scale, 3) in
    [0, 255] (not clipped).
    """
    import keras

    factors = upsampling_factors(scale)
    inputs = keras.Input(shape=(None, None, 3), name="lr")
    # Under a mixed-precision policy the two ends stay float32: they set the output's precision.
    x = mean_shift(inputs, DIV2K_RGB_MEAN, PIXEL_SCALE, inverse=False, name="normalize", dtype="float32")
    x = body = conv3x3(x, features, "head_conv")
    for i in range(1, blocks + 1):
        body = residual_block(body, features, f"block{i}", scaling=res_scaling)
    body = conv3x3(body, features, "body_conv")
    x = keras.layers.Add(name="long_skip")([x, body])
    for step, factor in enumerate(factors, start=1):
        x = conv3x3(x, features * factor * factor, f"upsample{step}_conv")
        x = pixel_shuffle(x, factor, f"upsample{step}_shuffle")
    x = conv3x3(x, 3, "tail_conv", dtype="float32")
    outputs = mean_shift(x, DIV2K_RGB_MEAN, PIXEL_SCALE, inverse=True, name="denormalize", dtype="float32")
    model = keras.Model(inputs, outputs, name=name or f"edsr_x{scale}_{blocks}x{features}")
    return load_into(model, weights)


def weighted_layers(model) -> list:
    """The layers holding weights, in graph order (the order the krasserm mapping relies on)."""
    return [layer for layer in model.layers if layer.weights]


def body_layer_count(blocks: int) -> int:
    """Weighted layers shared by every scale: head, 2 per block, body conv (what a warm start copies)."""
    return 2 * blocks + 2
