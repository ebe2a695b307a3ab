"""Pictures of results: one band per query (the query, then its hits) or per duplicate group."""
from __future__ import annotations

from PIL import Image, ImageDraw, ImageFont, ImageOps

from visiontk.imageio import read_image

THUMB = 180
LABEL_HEIGHT = 20
GAP = 8


def _font():
    try:
        return ImageFont.truetype("DejaVuSans.ttf", 12)
    except OSError:
        return ImageFont.load_default()


def results_sheet(bands: list[list[tuple[str, str]]], per_row: int = 6, thumb: int = THUMB) -> Image.Image:
    """`bands`: lists of (image path, caption); each band starts a new row and wraps after `per_row`.
    The first tile of each band is framed (the query, or the copy kept)."""
    font = _font()
    # (tiles, whether the row starts a band)
    rows = [(band[start:start + per_row], start == 0)
            for band in bands for start in range(0, len(band), per_row)]
    tile_height = thumb + LABEL_HEIGHT
    sheet = Image.new("RGB", (per_row * (thumb + GAP) + GAP, len(rows) * (tile_height + GAP) + GAP), "white")
    draw = ImageDraw.Draw(sheet)
    for r, (row, starts_band) in enumerate(rows):
        for c, (path, caption) in enumerate(row):
            left, top = GAP + c * (thumb + GAP), GAP + r * (tile_height + GAP)
            picture = ImageOps.pad(Image.fromarray(read_image(path)), (thumb, thumb), color=(235, 235, 235))
            sheet.paste(picture, (left, top))
            if starts_band and c == 0:
                draw.rectangle([left - 3, top - 3, left + thumb + 2, top + thumb + 2], outline=(220, 40, 40),
                               width=3)
            draw.text((left + 2, top + thumb + 3), caption[:30], fill="black", font=font)
    return sheet
