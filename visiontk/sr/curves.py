"""The training curves of a run (L1 loss and validation PSNR against steps) drawn as a PNG with PIL."""
from __future__ import annotations

import csv
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

WIDTH, HEIGHT, MARGIN = 420, 260, 48


def draw_curves(log_csv: Path, output: Path) -> Path:
    """Write `output` (PNG): loss on the left, validation PSNR on the right, from a run's log.csv."""
    rows = list(csv.DictReader(open(log_csv)))
    loss = [(int(r["step"]), float(r["loss"])) for r in rows if r["loss"]]
    val = [(int(r["step"]), float(r["val_psnr"])) for r in rows if r["val_psnr"]]
    sheet = Image.new("RGB", (2 * WIDTH, HEIGHT), "white")
    # The first steps' loss is ~20x the rest: clip it so the later, slower fall stays visible.
    _panel(sheet, 0, loss, "training L1 loss (0-255 scale)", (200, 60, 40), clip_quantile=0.97)
    _panel(sheet, WIDTH, val, "validation PSNR, dB (Y, held-out)", (40, 90, 200))
    tmp = output.with_name(f".{output.name}.part.png")
    sheet.save(tmp)
    tmp.replace(output)
    return output


def _panel(sheet: Image.Image, left: int, points: list[tuple[int, float]], title: str, colour,
           clip_quantile: float = 1.0) -> None:
    draw = ImageDraw.Draw(sheet)
    try:
        font = ImageFont.truetype("DejaVuSans.ttf", 12)
    except OSError:
        font = ImageFont.load_default()
    draw.text((left + MARGIN, 8), title, fill="black", font=font)
    x0, y0, x1, y1 = left + MARGIN, 28, left + WIDTH - 12, HEIGHT - 28
    draw.rectangle((x0, y0, x1, y1), outline=(160, 160, 160))
    if len(points) < 2:
        return
    steps, values = [p[0] for p in points], [p[1] for p in points]
    low, high = min(values), sorted(values)[int(clip_quantile * (len(values) - 1))]
    high = high if high > low else low + 1

    def xy(step: int, value: float) -> tuple[float, float]:
        return (x0 + (step - steps[0]) / max(steps[-1] - steps[0], 1) * (x1 - x0),
                y1 - (min(value, high) - low) / (high - low) * (y1 - y0))

    draw.line([xy(s, v) for s, v in points], fill=colour, width=2)
    draw.text((left + 4, y0 - 6), f"{high:.2f}", fill="black", font=font)
    draw.text((left + 4, y1 - 6), f"{low:.2f}", fill="black", font=font)
    draw.text((x0, y1 + 6), f"step {steps[0]}", fill="black", font=font)
    draw.text((x1 - 70, y1 + 6), f"step {steps[-1]}", fill="black", font=font)
