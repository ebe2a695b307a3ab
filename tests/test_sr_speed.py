"""visiontk sr upscale: precision (the shared bfloat16 hardware check), batched tiles, output sizes."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

CPUINFO = "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse2 avx2 avx512f {extra}\nbogomips\t: 1\n"


@pytest.mark.parametrize("extra, fast", [("avx512_bf16", True), ("amx_bf16 amx_tile", True),
                                         ("avx512_vnni", False), ("", False)])
def test_bfloat16_is_fast_reads_the_cpu_flags(extra, fast):
    from visiontk.runtime import bfloat16_is_fast

    assert bfloat16_is_fast(CPUINFO.format(extra=extra)) is fast


def test_stylize_auto_precision_uses_the_same_check(monkeypatch):
    from visiontk import runtime
    from visiontk.style.transfer import resolve_precision

    for fast, expected in ((True, "bfloat16"), (False, "float32")):
        monkeypatch.setattr(runtime, "bfloat16_is_fast", lambda fast=fast: fast)
        assert resolve_precision("auto") == expected


@pytest.fixture(scope="module")
def tiny_x4(tmp_path_factory):
    """A random-weight EDSR x4 (2 blocks x 8 features): mechanics only, never quality."""
    import keras

    from visiontk.backbones.edsr import EDSR

    path = tmp_path_factory.mktemp("tiny") / "tiny_x4.weights.h5"
    keras.utils.set_random_seed(4)
    EDSR(4, blocks=2, features=8).save_weights(path)
    return path


@pytest.fixture(scope="module")
def photo(shared):
    from visiontk.imageio import read_image

    return read_image(shared / "data" / "sr" / "Set5" / "butterfly.png")[:90, :120]


def test_batched_tiles_match_one_by_one(tiny_x4, photo):
    from visiontk.sr import tiling
    from visiontk.sr.upscale import Upscaler

    upscaler = Upscaler(4, tiny_x4, precision="float32")
    rgb = photo.astype(np.float32)
    whole = upscaler.predict(rgb)
    calls = []

    def counting(batch):
        calls.append(len(batch))
        return upscaler.predict_batch(batch)

    one = tiling.upscale_tiled(rgb, counting, 4, tile=40, overlap=16, batch=1)
    assert calls == [1] * 9
    calls.clear()
    batched = tiling.upscale_tiled(rgb, counting, 4, tile=40, overlap=16, batch=4)
    assert calls == [4, 4, 1]  # 9 equal-sized tiles, 4 at a time
    for tiled in (one, batched):
        assert np.abs(tiled - whole).max() < 1 / 255


def test_auto_batch_fills_the_memory_budget():
    from visiontk.sr import tiling

    assert tiling.auto_batch(1000, 1000, 167, 32, 4) == 1  # today's float32 tiles: one at a time
    small = tiling.auto_batch(1000, 1000, 40, 16, 4, precision="bfloat16")
    assert small > 1 and small * 72 * 72 * tiling.bytes_per_pixel(4, "bfloat16") <= tiling.DEFAULT_MEMORY


def test_bfloat16_is_close_to_float32(tiny_x4, photo):
    from visiontk.sr.upscale import Upscaler

    exact = Upscaler(4, tiny_x4, precision="float32").upscale_rgb(photo).astype(int)
    fast = Upscaler(4, tiny_x4, precision="bfloat16")
    assert fast.keras_model.get_layer("head_conv").compute_dtype == "bfloat16"
    assert np.abs(fast.upscale_rgb(photo).astype(int) - exact).mean() < 1.0


@pytest.mark.parametrize("args, size", [(("--outscale", "2.5"), (300, 225)), (("--width", "200"), (200, 150)),
                                        (("--height", "300"), (400, 300)),
                                        (("--width", "200", "--height", "100"), (133, 100))])
def test_any_output_size_keeps_the_aspect(tiny_x4, photo, tmp_path, run_cli, args, size):
    from PIL import Image

    from visiontk.imageio import resize
    from visiontk.sr.upscale import Upscaler

    source = tmp_path / "in.png"
    Image.fromarray(photo).save(source)
    result = run_cli("sr", "upscale", source, "--model", tiny_x4, "--precision", "float32", *args,
                     "-o", tmp_path / "out.png")
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "out.png") as im:
        assert im.size == size
        written = np.asarray(im).astype(float)
    # x4 by the model, then an antialiased downsize to the exact size
    expected = resize(Upscaler(4, tiny_x4, precision="float32").upscale_float(photo), size, Image.LANCZOS)
    assert np.abs(written - np.clip(expected, 0, 255)).max() <= 1


def test_output_size_refusals(tiny_x4, photo, tmp_path, run_cli):
    source = tmp_path / "in.png"
    Image.fromarray(photo).save(source)
    for args in (("--outscale", "5"), ("--width", "1000"), ("--outscale", "0.5"), ("--width", "0"),
                 ("--outscale", "2", "--width", "100")):
        result = run_cli("sr", "upscale", source, "--model", tiny_x4, *args, "-o", tmp_path / "out.png")
        assert result.exit_code == 2, (args, result.output)
        assert "Traceback" not in result.output
    assert not (tmp_path / "out.png").exists()


def test_default_model_scale_follows_outscale(tmp_path):
    from visiontk.sr.upscale import resolve_scale

    assert [resolve_scale(None, None, f) for f in (1.0, 1.5, 2.0, 2.01, 3.2, 4.0)] == [2, 2, 2, 3, 4, 4]
    assert resolve_scale(3, None, 1.5) == 3


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16_bit_input_gives_16_bit_output(tiny_x4, photo, tmp_path, run_cli, suffix):
    import cv2

    # A smooth 16-bit gradient under the photo: values an 8-bit file cannot hold.
    deep = photo.astype(np.uint16) * 257 + np.linspace(0, 200, photo.shape[1], dtype=np.uint16)[None, :, None]
    source = tmp_path / f"in16{suffix}"
    cv2.imwrite(str(source), deep[..., ::-1])
    result = run_cli("sr", "upscale", source, "--model", tiny_x4, "--precision", "float32", "--outscale", "2",
                     "-o", tmp_path / f"out{suffix}", "--json")
    assert result.exit_code == 0, result.output
    out = cv2.imread(str(tmp_path / f"out{suffix}"), cv2.IMREAD_UNCHANGED)
    assert out.dtype == np.uint16 and out.shape == (180, 240, 3)
    assert np.any(out % 257 != 0)  # really 16-bit levels, not 8-bit ones scaled
    # The same picture as the 8-bit path gives, at 16-bit precision.
    eight = tmp_path / "in8.png"
    Image.fromarray(np.round(deep / 257).astype(np.uint8)).save(eight)
    run_cli("sr", "upscale", eight, "--model", tiny_x4, "--precision", "float32", "--outscale", "2",
            "-o", tmp_path / "out8.png")
    reference = np.asarray(Image.open(tmp_path / "out8.png")).astype(float)
    assert np.abs(out[..., ::-1] / 257 - reference).mean() < 1.0
    # A JPEG output can only hold 8 bits.
    result = run_cli("sr", "upscale", source, "--model", tiny_x4, "-o", tmp_path / "out.jpg", "--json")
    assert '"bits": 8' in result.output


def test_16_bit_gray_and_rgba_keep_their_channels(tiny_x4, tmp_path, run_cli):
    import cv2

    gray = (np.arange(30 * 40).reshape(30, 40) * 50).astype(np.uint16)
    alpha = np.full((30, 40), 40000, np.uint16)
    cv2.imwrite(str(tmp_path / "g.png"), gray)
    cv2.imwrite(str(tmp_path / "rgba.png"), np.dstack([gray, gray, gray, alpha]))
    for name, channels in (("g.png", None), ("rgba.png", 4)):
        result = run_cli("sr", "upscale", tmp_path / name, "--model", tiny_x4, "-o", tmp_path / f"out-{name}")
        assert result.exit_code == 0, result.output
        out = cv2.imread(str(tmp_path / f"out-{name}"), cv2.IMREAD_UNCHANGED)
        assert out.dtype == np.uint16 and out.shape[:2] == (120, 160)
        assert (out.ndim == 2) if channels is None else (out.shape[2] == 4)
    assert np.abs(out[..., 3].astype(int) - 40000).max() <= 1
