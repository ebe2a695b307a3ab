"""Finding faces with MTCNN (Zhang et al. 2016): boxes, confidences and five landmarks per face.

The three networks and their weights come from the `mtcnn` package; the cascade around them is ours,
because the package resamples R-Net's and O-Net's inputs (24 and 48 pixels) straight from the full
photo with bilinear `crop_and_resize`, without antialiasing: a 700-pixel face becomes a 48-pixel
crop that reads one pixel in 15, and O-Net's confidence drops (0.87 on a sharp 2500-pixel portrait,
0.95 after a 4x Lanczos shrink). The reference implementations resample with area averaging
(facenet's `imresample` uses OpenCV's INTER_AREA). Here every crop is cut from the pyramid level in
which the box already measures at least the network's input size, so the last bilinear step shrinks
by at most 1/0.709 and the pyramid's own resizing (Pillow, antialiased) did the rest.
"""
from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image

from visiontk.compat import renamed_constants, renamed_keyword

# Confidence O-Net must give a face, chosen on the dev split of benchmarks/face_detect_eval.py (BSDS500
# train photos with and without people, hard versions of the shared portraits; never photos the tests
# check): of the cuts that leave at most 1 false detection per 200 face-free photos, those that find the
# most faces run from 0.90 to 0.93; 0.92 is their middle. There 98.4% of the 123 faces at least 40 px
# tall are found (the two missed look down and score 0.46 and 0.61; the authors' 0.7 would find neither
# and add 6 false detections per 200 face-free photos) and 0.9 per 200 remain (painted clogs at 0.98).
# docs/face.md has the curves.
DEFAULT_MIN_CONFIDENCE = 0.92
DEFAULT_MIN_FACE = 20         # pixels, in the original image (MTCNN's usual setting)
PNET_WINDOW = 12              # P-Net's window: the smallest wanted face measures this in the searched image
MTCNN_MIN_FACE = PNET_WINDOW  # the old name
SCALE_FACTOR = 0.709          # between pyramid levels (the authors' value: area halves every two levels)
PNET_THRESHOLD = 0.6          # stage thresholds of the authors' code and its ports
RNET_THRESHOLD = 0.7
LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")  # left = image's left


# DEFAULT_THRESHOLD, the old name of DEFAULT_MIN_CONFIDENCE (face.model had a distance of that name).
__getattr__ = renamed_constants(__name__, {"DEFAULT_THRESHOLD": ("DEFAULT_MIN_CONFIDENCE", DEFAULT_MIN_CONFIDENCE)})


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
def keras_networks():
    """(P-Net, R-Net, O-Net) as Keras models with the `mtcnn` package's weights, read from the package."""
    from importlib.resources import files

    from visiontk.runtime import tensorflow
    tensorflow()
    from mtcnn.network.onet import ONet
    from mtcnn.network.pnet import PNet
    from mtcnn.network.rnet import RNet
    from mtcnn.utils.tensorflow import load_weights

    networks = []
    for kind, name in ((PNet, "pnet.lz4"), (RNet, "rnet.lz4"), (ONet, "onet.lz4")):
        network = kind()
        network.build()
        # The full path: load_weights tries a bare name in the working directory first.
        network.set_weights(load_weights(str(files("mtcnn.assets.weights") / name)))
        networks.append(network)
    return tuple(networks)


@lru_cache(maxsize=1)
def _networks():
    """The three networks as graphs, each traced once for every input size: called eagerly, the
    per-layer dispatch cost 8x the arithmetic on a 640x360 frame (1.8 s against 0.23 s on a loaded
    CPU). P-Net reads whole pyramid levels (any size), R-Net and O-Net batches of 24 and 48-pixel crops."""
    import tensorflow as tf

    shapes = ([1, None, None, 3], [None, 24, 24, 3], [None, 48, 48, 3])
    return tuple(tf.function(network, input_signature=[tf.TensorSpec(shape, tf.float32)])
                 for network, shape in zip(keras_networks(), shapes))


# ---- the pyramid ----------------------------------------------------------------------------------------

class Pyramid:
    """The photo at decreasing scales, each level shrunk with Pillow's antialiased bilinear filter
    from a level about twice its size (cheap, and close to resizing from the original). Level 0 is
    the photo itself; P-Net searches levels 1.. (`search_scales`)."""

    def __init__(self, image: np.ndarray, search_scales: list[float]):
        self.image = image
        self.search_scales = search_scales
        self.scales = [1.0] + search_scales
        self._pixels: dict[int, np.ndarray] = {0: image}
        self._normalised: dict[int, np.ndarray] = {}

    def level(self, index: int) -> np.ndarray:
        """Level `index` as normalised float32 (H, W, 3), as the networks read it."""
        if index not in self._normalised:
            self._normalised[index] = normalise(self.pixels(index))
        return self._normalised[index]

    def pixels(self, index: int) -> np.ndarray:
        if index not in self._pixels:
            scale = self.scales[index]
            # The nearest level at least twice as large (level 0 always is, or is this one).
            source = next(i for i in range(index - 1, -1, -1) if self.scales[i] >= 2 * scale or i == 0)
            height, width = self.image.shape[:2]
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            same = size == (width, height)
            self._pixels[index] = self.image if same else \
                np.asarray(Image.fromarray(self.pixels(source)).resize(size, Image.BILINEAR))
        return self._pixels[index]


def normalise(pixels: np.ndarray) -> np.ndarray:
    """uint8 pixels as the networks read them: (x - 127.5) / 128, in float32 (in place, no temporaries)."""
    out = pixels.astype(np.float32)
    out -= 127.5
    out *= 1 / 128
    return out


def pyramid_scales(height: int, width: int, min_face: int) -> list[float]:
    """P-Net's scales: the smallest wanted face fills the 12-pixel window at the first, and the
    last still holds a 12-pixel window."""
    scale = PNET_WINDOW / min_face
    scales = []
    while min(height, width) * scale >= PNET_WINDOW:
        scales.append(scale)
        scale *= SCALE_FACTOR
    return scales


# ---- boxes ------------------------------------------------------------------------------------------------

def nms(boxes: np.ndarray, scores: np.ndarray, overlap: float, method: str = "union") -> np.ndarray:
    """Indices kept by greedy non-maximum suppression, best first. `min` divides the intersection
    by the smaller box (drops a box inside another), `union` by the union."""
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(best)
        w = np.maximum(0, np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]) + 1)
        h = np.maximum(0, np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]) + 1)
        inter = w * h
        denominator = np.minimum(areas[best], areas[rest]) if method == "min" else \
            areas[best] + areas[rest] - inter
        order = rest[inter / denominator <= overlap]
    return np.array(keep, dtype=int)


def square(boxes: np.ndarray) -> np.ndarray:
    """Each box grown to a square around its centre (the networks' inputs are square)."""
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    x1 = boxes[:, 0] + (w - side) / 2
    y1 = boxes[:, 1] + (h - side) / 2
    return np.stack([x1, y1, x1 + side, y1 + side], axis=1)


def refine(boxes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Apply a network's box regression (offsets in units of the box's size)."""
    sizes = np.stack([boxes[:, 2] - boxes[:, 0] + 1, boxes[:, 3] - boxes[:, 1] + 1] * 2, axis=1)
    return boxes + offsets * sizes


# ---- the three stages --------------------------------------------------------------------------------------

def _proposals(pyramid: Pyramid, pnet) -> np.ndarray:
    """P-Net over every level: candidate boxes (N, 5) = x1, y1, x2, y2, score, in photo pixels."""
    found = []
    for index, scale in enumerate(pyramid.scales):
        if index == 0:
            continue  # the photo itself, unless it is also a search scale (then level 1 equals it)
        reg, prob = (np.asarray(t)[0] for t in pnet(pyramid.level(index)[None]))
        ys, xs = np.nonzero(prob[..., 1] > PNET_THRESHOLD)
        if not len(ys):
            continue
        # Output cell (y, x) looked at the 12-pixel window at (2x, 2y) of this level.
        windows = np.stack([2 * xs, 2 * ys, 2 * xs + PNET_WINDOW, 2 * ys + PNET_WINDOW], 1).astype(np.float64)
        boxes = (windows + reg[ys, xs] * PNET_WINDOW) / scale
        scores = prob[ys, xs, 1].astype(np.float64)
        keep = nms(boxes, scores, 0.5)
        found.append(np.column_stack([boxes[keep], scores[keep]]))
    if not found:
        return np.zeros((0, 5))
    boxes = np.concatenate(found)
    return boxes[nms(boxes[:, :4], boxes[:, 4], 0.7)]


def crops(pyramid: Pyramid, boxes: np.ndarray, size: int) -> np.ndarray:
    """(N, size, size, 3) network inputs of the square `boxes`, each cut from the smallest level in
    which the box still measures at least `size` pixels (or the photo itself, for small boxes), so
    that no crop skips pixels. Outside the photo reads black, as in the authors' code. Crops are cut
    from the uint8 levels and normalised afterwards, so a full-size photo is never converted whole."""
    import tensorflow as tf

    scales = np.array(pyramid.scales)
    sides = boxes[:, 2] - boxes[:, 0]
    fits = sides[:, None] * scales[None] >= size
    choice = np.where(fits.any(1), np.where(fits, np.arange(len(scales)), -1).max(1), 0)
    out = np.zeros((len(boxes), size, size, 3), np.float32)
    for level in np.unique(choice):
        rows = np.nonzero(choice == level)[0]
        scale = scales[level]
        pixels = pyramid.pixels(level)
        height, width = pixels.shape[:2]
        x1, y1, x2, y2 = (boxes[rows].T * scale)
        # Sample at the centres of the output pixels (crop_and_resize's end points are pixel centres).
        step_x, step_y = (x2 - x1) / size, (y2 - y1) / size
        coords = np.stack([(y1 + step_y / 2 - 0.5) / max(height - 1, 1), (x1 + step_x / 2 - 0.5) / max(width - 1, 1),
                           (y2 - step_y / 2 - 0.5) / max(height - 1, 1), (x2 - step_x / 2 - 0.5) / max(width - 1, 1)],
                          axis=1)
        out[rows] = tf.image.crop_and_resize(pixels[None], coords.astype(np.float32), np.zeros(len(rows), np.int32),
                                             (size, size), extrapolation_value=0.0).numpy()
    out -= 127.5      # black (0) outside the photo becomes the networks' black
    out *= 1 / 128
    return out


def _rnet_stage(pyramid: Pyramid, boxes: np.ndarray, rnet) -> np.ndarray:
    offsets, prob = (np.asarray(t) for t in rnet(crops(pyramid, square(boxes[:, :4]), 24)))
    squared = square(boxes[:, :4])
    keep = prob[:, 1] > RNET_THRESHOLD
    boxes = np.column_stack([refine(squared[keep], offsets[keep]), prob[keep, 1]])
    return boxes[nms(boxes[:, :4], boxes[:, 4], 0.7)]


def _onet_stage(pyramid: Pyramid, boxes: np.ndarray, onet, min_confidence: float) -> np.ndarray:
    """Rows of (x1, y1, x2, y2, score, 5 landmark x, 5 landmark y)."""
    squared = square(boxes[:, :4])
    offsets, marks, prob = (np.asarray(t) for t in onet(crops(pyramid, squared, 48)))
    keep = prob[:, 1] >= min_confidence
    squared, offsets, marks, scores = squared[keep], offsets[keep], marks[keep], prob[keep, 1]
    # Landmarks are fractions of the box O-Net saw (the `mtcnn` package's convention).
    w = squared[:, 2:3] - squared[:, 0:1] + 1
    h = squared[:, 3:4] - squared[:, 1:2] + 1
    xs = w * marks[:, :5] + squared[:, 0:1] - 1
    ys = h * marks[:, 5:] + squared[:, 1:2] - 1
    rows = np.column_stack([refine(squared, offsets), scores, xs, ys])
    return rows[nms(rows[:, :4], rows[:, 4], 0.7, method="min")]


def detect_faces(image: np.ndarray, *, min_confidence: float = DEFAULT_MIN_CONFIDENCE,
                 min_face: int = DEFAULT_MIN_FACE, threshold: float | None = None) -> list[Face]:
    """Every face of at least `min_face` pixels in an RGB uint8 image whose O-Net confidence is at
    least `min_confidence`, largest first. (`threshold`: the deprecated old name of `min_confidence`.)"""
    min_confidence = renamed_keyword("threshold", "min_confidence", threshold, min_confidence)
    image = np.ascontiguousarray(image[..., :3], dtype=np.uint8)
    height, width = image.shape[:2]
    scales = pyramid_scales(height, width, min_face)
    if not scales:
        return []
    pyramid = Pyramid(image, scales)
    pnet, rnet, onet = _networks()
    with contextlib.redirect_stdout(io.StringIO()):  # keep any Keras chatter off our stdout
        boxes = _proposals(pyramid, pnet)
        if len(boxes):
            boxes = _rnet_stage(pyramid, boxes, rnet)
        rows = _onet_stage(pyramid, boxes, onet, min_confidence) if len(boxes) else np.zeros((0, 15))
    faces = []
    for row in rows:
        box = (max(0.0, row[0]), max(0.0, row[1]), min(float(width), row[2]), min(float(height), row[3]))
        faces.append(Face(tuple(float(v) for v in box), float(row[4]), np.stack([row[5:10], row[10:15]], 1)))
    faces = [f for f in faces if min(f.width, f.height) >= min_face]
    return sorted(faces, key=lambda f: f.area, reverse=True)
