"""Image I/O: every mode we promise to read, the decompression-bomb limit, atomic writes."""
from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from visiontk import atomic, imageio
from visiontk.errors import BadInputError


def gradient(width=40, height=30) -> np.ndarray:
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None, None]
    return np.concatenate([np.broadcast_to(x, (height, width, 1)), np.broadcast_to(y, (height, width, 1)),
                           np.full((height, width, 1), 128, np.float32)], axis=2).astype(np.uint8)


@pytest.mark.parametrize("ext", [".jpg", ".png", ".bmp", ".tif", ".webp"])
def test_reads_every_format_as_rgb(tmp_path, ext):
    path = tmp_path / f"g{ext}"
    Image.fromarray(gradient()).save(path)
    picture = imageio.read_picture(path)
    assert picture.rgb.shape == (30, 40, 3) and picture.rgb.dtype == np.uint8
    assert picture.alpha is None and not picture.grayscale
    error = np.abs(picture.rgb.astype(int) - gradient().astype(int))
    if ext in (".jpg", ".webp"):  # lossy
        assert error.mean() < 4
    else:
        assert error.max() == 0


def test_grayscale_is_expanded_and_remembered(tmp_path):
    path = tmp_path / "gray.png"
    Image.fromarray(gradient()[..., 0]).save(path)
    picture = imageio.read_picture(path)
    assert picture.grayscale and picture.rgb.shape == (30, 40, 3)
    assert np.array_equal(picture.rgb[..., 0], picture.rgb[..., 2])


def test_16_bit_png_is_scaled_to_8_bit(tmp_path):
    path = tmp_path / "deep.png"
    wide = (np.arange(64 * 16, dtype=np.uint16).reshape(16, 64) * 64).astype(np.uint16)
    Image.fromarray(wide).save(path)
    picture = imageio.read_picture(path)
    assert picture.grayscale
    assert picture.rgb.max() == round(wide.max() / 65535 * 255) and picture.rgb.min() == 0


def test_palette_and_rgba_keep_alpha(tmp_path):
    rgba = np.dstack([gradient(), np.tile(np.arange(40, dtype=np.uint8) * 6, (30, 1))])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    picture = imageio.read_picture(tmp_path / "a.png")
    assert np.array_equal(picture.alpha, rgba[..., 3])
    assert np.array_equal(picture.rgb, rgba[..., :3])

    Image.fromarray(gradient()).convert("P", palette=Image.ADAPTIVE, colors=16).save(tmp_path / "p.png")
    assert imageio.read_picture(tmp_path / "p.png").rgb.shape == (30, 40, 3)


def test_cmyk_jpeg_and_animated_gif(tmp_path):
    Image.fromarray(gradient()).convert("CMYK").save(tmp_path / "cmyk.jpg")
    assert imageio.read_image(tmp_path / "cmyk.jpg").shape == (30, 40, 3)
    frames = [Image.new("RGB", (20, 10), c) for c in ("red", "blue")]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    first = imageio.read_image(tmp_path / "anim.gif")
    assert first.shape == (10, 20, 3) and first[0, 0, 0] > 200 and first[0, 0, 2] < 50


def test_exif_orientation_is_applied(tmp_path):
    image = Image.fromarray(gradient(40, 30))
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    image.save(tmp_path / "rotated.jpg", exif=exif)
    assert imageio.read_image(tmp_path / "rotated.jpg").shape == (40, 30, 3)


def png_claiming_size(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 10)) + \
        chunk(b"IEND", b"")


@pytest.mark.parametrize("name,content,message", [
    ("empty.jpg", b"", "not an image"),
    ("text.jpg", b"hello, I am not a picture\n", "not an image"),
    ("bomb.png", png_claiming_size(100_000, 100_000), "decompression bomb"),
])
def test_bad_files_raise_bad_input_naming_the_file(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(BadInputError, match=message) as info:
        imageio.read_picture(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_files_raise_bad_input(tmp_path, fmt):
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(buffer, fmt)
    path = tmp_path / f"cut.{fmt.lower()}"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(BadInputError, match="corrupt or truncated"):
        imageio.read_picture(path)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(BadInputError, match="no such file"):
        imageio.read_picture(tmp_path / "nope.png")
    with pytest.raises(BadInputError, match="is a directory"):
        imageio.read_picture(tmp_path)


def test_tiny_and_large_images(tmp_path):
    Image.new("RGB", (1, 1), "white").save(tmp_path / "one.png")
    assert imageio.read_image(tmp_path / "one.png").shape == (1, 1, 3)
    Image.new("RGB", (5000, 5000), "white").save(tmp_path / "big.png")
    assert imageio.read_image(tmp_path / "big.png").shape == (5000, 5000, 3)


def test_write_round_trip_keeps_alpha_and_gray(tmp_path):
    rgb = gradient()
    alpha = np.full(rgb.shape[:2], 77, np.uint8)
    imageio.write_image(tmp_path / "out.png", imageio.Picture(rgb, alpha))
    back = imageio.read_picture(tmp_path / "out.png")
    assert np.array_equal(back.rgb, rgb) and np.array_equal(back.alpha, alpha)
    imageio.write_image(tmp_path / "gray.png", imageio.Picture(rgb, None, grayscale=True))
    assert Image.open(tmp_path / "gray.png").mode == "L"


def test_write_refuses_to_clobber_and_unknown_format(tmp_path):
    target = tmp_path / "out.png"
    imageio.write_image(target, gradient())
    before = target.read_bytes()
    with pytest.raises(BadInputError, match="output exists"):
        imageio.write_image(target, np.zeros((4, 4, 3), np.uint8))
    assert target.read_bytes() == before
    imageio.write_image(target, np.zeros((4, 4, 3), np.uint8), overwrite=True)
    assert imageio.read_image(target).shape == (4, 4, 3)
    with pytest.raises(BadInputError, match="output format"):
        imageio.write_image(tmp_path / "out.xyz", gradient())


def test_failure_mid_write_leaves_nothing(tmp_path):
    target = tmp_path / "result.png"
    with pytest.raises(RuntimeError):
        with atomic.atomic_output(target) as tmp:
            tmp.write_bytes(b"half a file")
            raise RuntimeError("power cut")
    assert list(tmp_path.iterdir()) == []

    target.write_bytes(b"precious")
    with pytest.raises(RuntimeError):
        with atomic.atomic_output(target, overwrite=True) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("power cut")
    assert target.read_bytes() == b"precious" and list(tmp_path.iterdir()) == [target]


def test_expand_inputs_recurses_folders_and_reads_stdin(tmp_path):
    (tmp_path / "sub dir").mkdir()
    for name in ("b.png", "sub dir/ä photo.jpg", "notes.txt", ".hidden.png"):
        (tmp_path / name).write_bytes(b"x")
    found = imageio.expand_inputs([tmp_path])
    assert [p.name for p in found] == ["b.png", "ä photo.jpg"]
    listed = imageio.expand_inputs(["-"], stdin=io.StringIO(f"{tmp_path}/b.png\n\n/x y/z.png\n"))
    assert listed == [tmp_path / "b.png", Path("/x y/z.png")]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=2048), prefix=st.sampled_from([b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff",
                                                              b"GIF89a", b"BM", b"RIFF"]))
def test_fuzz_loader_only_ever_raises_bad_input(tmp_path, data, prefix):
    """Whatever bytes a file holds, the loader returns an RGB image or raises BadInputError."""
    path = tmp_path / "fuzz.img"
    path.write_bytes(prefix + data)
    try:
        picture = imageio.read_picture(path)
    except BadInputError:
        return
    assert picture.rgb.ndim == 3 and picture.rgb.shape[2] == 3 and picture.rgb.dtype == np.uint8


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1,
                        max_size=30), min_size=1, max_size=5))
def test_fuzz_path_lists_from_stdin(lines):
    """Any line on stdin (spaces, non-ASCII) becomes exactly one path, in order."""
    lines = [line.strip() for line in lines if line.strip() and "\n" not in line and "\r" not in line]
    lines = [line for line in lines if not Path(line).is_dir()]  # "/" would be searched for images
    stdin = io.StringIO("".join(line + "\n" for line in lines))
    assert [str(p) for p in imageio.expand_inputs(["-"], stdin=stdin)] == [str(Path(s)) for s in lines]


@pytest.mark.parametrize("shape, dtype", [((37, 53), np.uint8), ((37, 53, 1), np.uint8), ((37, 53, 3), np.uint8),
                                          ((37, 53, 4), np.uint8), ((37, 53, 2), np.uint8),
                                          ((37, 53, 3), np.uint16), ((37, 53, 3), np.float32)])
def test_resize_keeps_channels_and_precision(shape, dtype):
    from visiontk.imageio import resize

    image = np.random.default_rng(0).integers(0, 200, shape).astype(dtype)
    out = resize(image, (20, 70))
    assert out.shape == (70, 20, *shape[2:])
    assert out.dtype == (np.uint8 if dtype == np.uint8 else np.float32)
    # A flat image stays flat (no ringing without edges; RGBA is resized premultiplied, within a level).
    flat = np.full(shape, 100, dtype)
    assert np.allclose(resize(flat, (20, 70)), 100, atol=1 if dtype == np.uint8 else 0.01)
