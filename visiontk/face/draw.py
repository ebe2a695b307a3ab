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

