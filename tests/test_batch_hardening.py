"""Bad input at scale: every command that reads images gets the same zoo of broken and odd files.

Each bad file gives a one-line message naming it and the documented exit code, never a traceback or a
partial output; with --continue-on-error a mixed batch completes, reports exactly the bad files, exits 5
and leaves exactly the good outputs.
"""
from __future__ import annotations

import io
import json
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.slow


def _png_claiming(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 10)) + chunk(b"IEND", b""))


def _encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def make_bad_files(folder: Path) -> list[Path]:
    """Files no command can use: each must fail with exit 3 and a message naming it."""
    photo = Image.fromarray(np.random.default_rng(1).integers(0, 255, (48, 48, 3), np.uint8))
    jpeg, png = _encoded(photo, "JPEG"), _encoded(photo, "PNG")
    files = {
        "empty.jpg": b"",
        "truncated.jpg": jpeg[: len(jpeg) // 2],
        "truncated.png": png[: len(png) // 2],
        "text pretending.jpg": b"this is a text file, not a photo\n",
        "bomb.png": _png_claiming(100_000, 100_000),
    }
    for name, content in files.items():
        (folder / name).write_bytes(content)
    (folder / "a folder.png").mkdir()
    return [folder / name for name in files] + [folder / "a folder.png", folder / "missing ü.jpg"]


def make_odd_files(folder: Path, size: int = 48) -> list[Path]:
    """Unusual but valid images: every command must read them."""
    rng = np.random.default_rng(2)
    base = Image.fromarray(rng.integers(0, 255, (size, size + 8, 3), np.uint8))
    base.convert("CMYK").save(folder / "cmyk.jpg")
    Image.fromarray((rng.integers(0, 65535, (size, size), np.uint16))).save(folder / "sixteen-bit.png")
    base.convert("P", palette=Image.ADAPTIVE, colors=32).save(folder / "palette.png")
    frames = [base, base.transpose(Image.FLIP_LEFT_RIGHT)]
    frames[0].save(folder / "animated.gif", save_all=True, append_images=frames[1:])
    exif = base.getexif()
    exif[0x0112] = 6
    base.save(folder / "rotated exif.jpg", exif=exif)
    return sorted(p for p in folder.iterdir() if p.is_file())


def assert_clean_errors(result, bad: list[Path]) -> None:
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("visiontk: error:")]
    for path in bad:
        assert sum(str(path) in line for line in errors) == 1, (path, result.stderr)


@pytest.fixture
def zoo(tmp_path):
    good_dir, bad_dir = tmp_path / "good", tmp_path / "bad"
    good_dir.mkdir()
    bad_dir.mkdir()
    return good_dir, bad_dir, make_bad_files(bad_dir)


def test_each_bad_file_alone_is_exit_3_with_one_line(zoo, run_cli, tmp_path):
    _, _, bad = zoo
    for path in bad:
        for args in (["sr", "upscale", path, "--scale", "2", "-o", tmp_path / "out.png"],
                     ["face", "detect", path]):
            result = run_cli(*args)
            assert result.exit_code == 3, (args, result.stderr)
            assert len(result.stderr.strip().splitlines()) == 1 and str(path) in result.stderr
            assert "Traceback" not in result.stderr
    assert not (tmp_path / "out.png").exists()


def test_sr_upscale_batch_of_100_mixed_files(zoo, run_cli, tmp_path, shared):
    good_dir, bad_dir, bad = zoo
    bird = Image.open(shared / "data" / "sr" / "Set5" / "bird.png").convert("RGB")
    for i in range(100 - len(bad) - 5):
        bird.crop((i, i, i + 40, i + 32)).save(good_dir / f"crop {i:02d}.png")
    odd = make_odd_files(good_dir, size=32)
    inputs = sorted(good_dir.iterdir()) + bad
    assert len(inputs) == 100
    out = tmp_path / "out"
    listing = "".join(f"{p}\n" for p in inputs)
    result = run_cli("sr", "upscale", "-", "--scale", "2", "--output-dir", out, "--continue-on-error",
                     "--json", input=listing)
    assert result.exit_code == 5, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(r["input"] for r in records if not r["ok"]) == sorted(map(str, bad))
    assert_clean_errors(result, bad)
    written = sorted(p.name for p in out.iterdir())
    assert written == sorted(f"{p.stem}_x2{'.png' if p.suffix == '.gif' else p.suffix}"
                             for p in inputs if p not in bad)
    assert not [p for p in out.iterdir() if ".part" in p.name]
    # Odd-but-valid images: 16-bit gray comes back 16-bit gray; the EXIF rotation (40x32 stored, shown
    # 32x40) is applied before upscaling.
    assert Image.open(out / "sixteen-bit_x2.png").mode.startswith("I;16")
    assert Image.open(out / "rotated exif_x2.jpg").size == (64, 80)
    assert odd

    # Re-running with --skip-existing does only what is missing.
    (out / "crop 00_x2.png").unlink()
    again = run_cli("sr", "upscale", good_dir, "--scale", "2", "--output-dir", out, "--skip-existing",
                    "--json")
    assert again.exit_code == 0
    assert [json.loads(line)["input"] for line in again.stdout.splitlines()] == [str(good_dir / "crop 00.png")]


def test_face_detect_batch_of_100_mixed_files(zoo, run_cli, shared, tmp_path):
    good_dir, bad_dir, bad = zoo
    faces = sorted((shared / "data" / "faces").glob("*_1.jpg"))
    count = 100 - len(bad) - 5
    for i in range(count):
        photo = Image.open(faces[i % len(faces)]).convert("RGB")
        photo.thumbnail((320, 320))
        photo.save(good_dir / f"face {i:02d}.jpg")
    make_odd_files(good_dir)
    inputs = sorted(good_dir.iterdir()) + bad
    assert len(inputs) == 100
    crops = tmp_path / "crops"
    result = run_cli("face", "detect", *inputs, "--crops", crops, "--continue-on-error", "--json")
    assert result.exit_code == 5, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(r["input"] for r in records if not r["ok"]) == sorted(map(str, bad))
    assert_clean_errors(result, bad)
    found = {r["input"]: len(r["faces"]) for r in records if r["ok"]}
    assert sum(found[str(good_dir / f"face {i:02d}.jpg")] == 1 for i in range(count)) == count


def test_stylize_batch_with_bad_files(zoo, run_cli, shared_weights, shared, tmp_path):
    good_dir, bad_dir, bad = zoo
    shutil.copy(shared / "data" / "content" / "chelsea.png", good_dir / "chelsea.png")
    make_odd_files(good_dir, size=40)
    out = tmp_path / "painted"
    inputs = sorted(good_dir.iterdir()) + bad
    result = run_cli("stylize", *inputs, "-s", shared / "data" / "style" / "starry_night.jpg",
                     "--backbone", "vgg16", "--size", "40", "--scales", "1", "--iterations", "2",
                     "--output-dir", out, "--continue-on-error", "--json")
    assert result.exit_code == 5, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(r["input"] for r in records if not r["ok"]) == sorted(map(str, bad))
    assert_clean_errors(result, bad)
    assert len(list(out.iterdir())) == len(inputs) - len(bad)


def test_bad_style_image_is_exit_3_and_writes_nothing(zoo, run_cli, shared_weights, shared, tmp_path):
    _, _, bad = zoo
    content = shared / "data" / "content" / "chelsea.png"
    for style in bad:
        result = run_cli("stylize", content, style, "--backbone", "vgg16", "--size", "32",
                         "-o", tmp_path / "out.png")
        assert result.exit_code == 3 and str(style) in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out.png").exists()


def test_gan_score_on_a_folder_with_bad_files(zoo, run_cli, tmp_path):
    good_dir, bad_dir, bad = zoo
    rng = np.random.default_rng(3)
    for i in range(20):
        Image.fromarray(rng.integers(0, 255, (28, 28), np.uint8)).save(good_dir / f"{i}.png")
    shutil.copy(bad_dir / "truncated.png", good_dir / "zz truncated.png")
    result = run_cli("gan", "score", good_dir, "--json")
    assert result.exit_code == 3 and "zz truncated.png" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_every_face_command_rejects_each_bad_file_cleanly(zoo, run_cli, shared, tmp_path):
    _, _, bad = zoo
    good = shared / "data" / "faces" / "obama_1.jpg"
    gallery = tmp_path / "gallery.npz"
    assert run_cli("face", "enroll", "--gallery", gallery, "obama", good).exit_code == 0
    before = gallery.read_bytes()
    for path in bad:
        for args in (["face", "verify", good, path], ["face", "embed", path, "--json"],
                     ["face", "enroll", "--gallery", gallery, "someone", path],
                     ["face", "identify", "--gallery", gallery, path]):
            result = run_cli(*args)
            assert result.exit_code == 3, (args, result.stderr)
            assert str(path) in result.stderr and len(result.stderr.strip().splitlines()) == 1
            assert "Traceback" not in result.stderr
    assert gallery.read_bytes() == before


def test_face_embed_batch_keeps_the_good_embeddings(zoo, run_cli, shared, tmp_path):
    good_dir, _, bad = zoo
    for name in ("obama_1.jpg", "biden_1.jpg", "kit_harington_1.jpg"):
        shutil.copy(shared / "data" / "faces" / name, good_dir / name)
    out = tmp_path / "embeddings.npz"
    result = run_cli("face", "embed", good_dir, *bad, "-o", out, "--continue-on-error")
    assert result.exit_code == 5
    assert_clean_errors(result, bad)
    with np.load(out) as saved:
        assert saved["embeddings"].shape == (3, 128)
        assert sorted(Path(p).name for p in saved["paths"]) == ["biden_1.jpg", "kit_harington_1.jpg",
                                                                 "obama_1.jpg"]
