"""A side-by-side picture: bicubic | EDSR | original on a crop of an HR image, with PSNR labels."""
from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from visiontk.imageio import read_image, write_image
from visiontk.errors import UsageError
from visiontk.sr.degrade import bicubic_upscale, check_scorable, crop_to_multiple, downscale
from visiontk.sr.metrics import y_psnr_ssim


def side_by_side(hr_path: str | Path, output: str | Path, scale: int = 4, model: str | Path | None = None,
                 crop: tuple[int, int, int] | None = None, zoom: int = 2, overwrite: bool = False) -> dict:
    """Downscale the HR image by `scale`, upscale it with bicubic and with EDSR, and write the three
    crops (x, y, size in HR pixels; default: the centre third) enlarged `zoom` times side by side."""
    from visiontk.sr.upscale import Upscaler

    hr = crop_to_multiple(read_image(hr_path), scale)
    check_scorable(hr, scale, str(hr_path))
    height, width = hr.shape[:2]
    x, y, size = crop or (width // 3, height // 3, min(width, height) // 3)
    if size < 1 or x < 0 or y < 0 or x + size > width or y + size > height:
        raise UsageError(f"--crop {x} {y} {size} is not inside {hr_path} ({width}x{height} after cropping "
                         f"to a multiple of {scale}): X and Y >= 0, SIZE >= 1, X+SIZE <= {width}, "
                         f"Y+SIZE <= {height}")
    lr = downscale(hr, scale)
    upscaler = Upscaler(scale, model, precision="float32")  # the scores of `sr eval`
    panels = {"bicubic": bicubic_upscale(lr, scale), "EDSR": upscaler.upscale_rgb(lr, show_progress=False),
              "original": hr}
    scores = {name: y_psnr_ssim(image, hr, scale) for name, image in panels.items() if name != "original"}
    tiles = [Image.fromarray(image[y:y + size, x:x + size]).resize((size * zoom, size * zoom), Image.NEAREST)
             for image in panels.values()]
    labels = [f"bicubic x{scale}  {scores['bicubic'][0]:.2f} dB", f"EDSR x{scale}  {scores['EDSR'][0]:.2f} dB",
              "original"]
    sheet = _sheet(tiles, labels)
    write_image(output, sheet, overwrite=overwrite)
    return {"output": str(output), "crop": [x, y, size],
            "bicubic_psnr": scores["bicubic"][0], "psnr": scores["EDSR"][0]}


def _sheet(tiles: list[Image.Image], labels: list[str], gap: int = 6, label_height: int = 26) -> Image.Image:
    side = tiles[0].size[0]
    sheet = Image.new("RGB", (len(tiles) * side + (len(tiles) - 1) * gap, side + label_height), "white")
    draw = ImageDraw.Draw(sheet)
    try:
        font = ImageFont.truetype("DejaVuSans.ttf", 16)
    except OSError:
        font = ImageFont.load_default()
    for i, (tile, label) in enumerate(zip(tiles, labels)):
        left = i * (side + gap)
        sheet.paste(tile, (left, label_height))
        draw.text((left + 4, 4), label, fill="black", font=font)
    return sheet
