"""Pictures for people: detected faces drawn on the photo, with landmarks and names."""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from visiontk.face.detect import Face

KNOWN_COLOUR = (40, 200, 60)
UNKNOWN_COLOUR = (230, 40, 40)
LANDMARK_COLOUR = (255, 220, 0)


def draw_faces(image: np.ndarray, faces: list[Face], labels: list[str] | None = None,
               colours: list[tuple[int, int, int]] | None = None) -> Image.Image:
    """The photo with each face's box and landmarks, and its label (default: the confidence)."""
    canvas = Image.fromarray(image).convert("RGB")
    draw = ImageDraw.Draw(canvas)
    line = max(2, round(max(canvas.size) / 400))
    font = ImageFont.load_default(size=max(12, round(max(canvas.size) / 45)))
    for i, face in enumerate(faces):
        colour = colours[i] if colours else KNOWN_COLOUR
        label = labels[i] if labels else f"{face.confidence:.3f}"
        left, top, right, bottom = face.box
        draw.rectangle([left, top, right, bottom], outline=colour, width=line)
        radius = line * 1.5
        for x, y in face.landmarks:
            draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=LANDMARK_COLOUR)
        text_box = draw.textbbox((left, bottom), label, font=font)
        pad = line
        draw.rectangle([text_box[0] - pad, text_box[1] - pad, text_box[2] + pad, text_box[3] + pad],
                       fill=colour)
        draw.text((left, bottom), label, fill="white", font=font)
    return canvas


def draw_training_curves(history: list[dict], size: tuple[int, int] = (640, 360)) -> Image.Image:
    """Training loss (fixed batches, left axis) and validation pair accuracy (right axis, 0..1) per epoch."""
    width, height = size
    left, right, top, bottom = 60, 60, 30, 40
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    epochs = [0] + [h["epoch"] for h in history]
    losses = [history[0]["loss_before"]] + [h["fixed_batch_loss"] for h in history]
    accuracy = [None] + [h["val_accuracy"] for h in history]
    top_loss = max(max(losses), 1e-9) * 1.1
    last = max(epochs[-1], 1)

    def point(epoch: float, fraction: float) -> tuple[float, float]:
        return (left + epoch / last * (width - left - right),
                height - bottom - fraction * (height - top - bottom))

    draw.rectangle([point(0, 1), point(last, 0)], outline="black")
    for tick in np.linspace(0, 1, 5):
        draw.line([point(0, tick), point(last, tick)], fill=(230, 230, 230))
        draw.text((5, point(0, tick)[1] - 6), f"{tick * top_loss:.3g}", fill=(40, 90, 200))
        draw.text((width - right + 5, point(0, tick)[1] - 6), f"{tick:.2f}", fill=(200, 60, 30))
    for epoch in epochs:
        draw.text((point(epoch, 0)[0] - 4, height - bottom + 5), str(epoch), fill="black")
    draw.line([point(e, v / top_loss) for e, v in zip(epochs, losses)], fill=(40, 90, 200), width=3)
    scored = [(e, a) for e, a in zip(epochs, accuracy) if a is not None and a == a]
    if len(scored) > 1:
        draw.line([point(e, a) for e, a in scored], fill=(200, 60, 30), width=3)
    for e, a in scored:
        x, y = point(e, a)
        draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=(200, 60, 30))
    draw.text((left, 8), "loss on fixed training batches (blue, left)   validation pair accuracy (red, right)",
              fill="black")
    draw.text((width // 2 - 15, height - 18), "epoch", fill="black")
    return image
