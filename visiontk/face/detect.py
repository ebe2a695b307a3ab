"""Finding faces with MTCNN (Zhang et al. 2016): boxes, confidences and five landmarks per face."""
from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image

DEFAULT_THRESHOLD = 0.95      # O-Net confidence a face needs
DEFAULT_MIN_FACE = 20         # pixels, in the original image (MTCNN's usual setting)
MTCNN_MIN_FACE = 12           # P-Net's window: the smallest wanted face measures this in the searched image
LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")  # left = image's left


@dataclass
class Face:
    """One detected face. `box` is (left, top, right, bottom) in pixels; `landmarks` is a (5, 2) array
    of (x, y) for the eyes, nose tip and mouth corners, in LANDMARK_NAMES order."""

    box: tuple[float, float, float, float]
    confidence: float
    landmarks: np.ndarray

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def area(self) -> float:
        return self.width * self.height

    def to_dict(self) -> dict:
        return {"box": [round(float(v), 1) for v in self.box],
                "confidence": round(float(self.confidence), 4),
                "landmarks": {name: [round(float(x), 1), round(float(y), 1)]
                              for name, (x, y) in zip(LANDMARK_NAMES, self.landmarks)}}


@lru_cache(maxsize=1)
def _mtcnn():
    from visiontk.runtime import tensorflow
    tensorflow()
    from mtcnn import MTCNN
    return MTCNN()


def detect_faces(image: np.ndarray, *, threshold: float = DEFAULT_THRESHOLD,
                 min_face: int = DEFAULT_MIN_FACE) -> list[Face]:
    """Every face of at least `min_face` pixels in an RGB uint8 image, largest first."""
    height, width = image.shape[:2]
    # Shrink the photo once, so that the smallest wanted face fills P-Net's 12-pixel window: MTCNN's
    # pyramid then starts at scale 1 instead of resizing the full photo at every level (about half
    # its time on big photos). Asking mtcnn 1.0 itself for a minimum face above 20 pixels instead
    # breaks its pyramid: it then finds nothing.
    scale = min(1.0, MTCNN_MIN_FACE / min_face)
    small = image if scale == 1.0 else np.asarray(
        Image.fromarray(image).resize((max(1, round(width * scale)), max(1, round(height * scale))),
                                      Image.BILINEAR))
    sy, sx = small.shape[0] / height, small.shape[1] / width
    with contextlib.redirect_stdout(io.StringIO()):  # keep Keras' predict chatter off our stdout
        rows = _mtcnn().detect_faces(small, box_format="xyxy", output_type="numpy",
                                     min_face_size=max(12, min(min_face, MTCNN_MIN_FACE)),
                                     threshold_onet=min(threshold, 0.999))
    faces = []
    for row in np.asarray(rows, dtype=np.float64).reshape(-1, 16):
        if row[5] < threshold:
            continue
        box = (row[1] / sx, row[2] / sy, row[3] / sx, row[4] / sy)
        # MTCNN's row holds the five x values, then the five y values.
        landmarks = row[6:16].reshape(2, 5).T / (sx, sy)
        faces.append(Face(tuple(float(v) for v in box), float(row[5]), landmarks))
    faces = [f for f in faces if min(f.width, f.height) >= min_face]
    return sorted(faces, key=lambda f: f.area, reverse=True)
