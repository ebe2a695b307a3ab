"""Geometric verification: are two images views of the same picture, or two pictures of similar things?

Global descriptors rank look-alikes close to copies: two photos of elephants on a savannah score as high
as a photo and its 60% crop. A copy, though, shares the picture itself: its local features (ORB corners)
match the original's under one similarity transform (shift, scale, rotation), which RANSAC finds; a
look-alike's matches agree with no single transform. So pairs whose descriptors are close but not
unmistakably so are kept only when at least `min_inliers` matches agree.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from visiontk.errors import VisiontkError
from visiontk.imageio import read_image, resize_long_side

FEATURES = 1000          # ORB corners per image
LONG_SIDE = 640          # images are shrunk to this first: enough corners, bounded time
RATIO = 0.8              # Lowe's ratio test on the two nearest descriptors
REPROJECTION = 5.0       # RANSAC: pixels within which a match agrees with the transform
DEFAULT_MIN_INLIERS = 25


class GeometricVerifier:
    """Counts the matches of two image files that agree with one similarity transform, remembering each
    image's features and each pair's count (the benchmark asks many times)."""

    def __init__(self) -> None:
        import cv2

        self._cv2 = cv2
        self._orb = cv2.ORB_create(nfeatures=FEATURES)
        self._matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
        self._features: dict[str, tuple] = {}
        self._inliers: dict[tuple[str, str], int] = {}

    def features(self, path: str) -> tuple:
        if path not in self._features:
            try:
                image = read_image(path)
            except VisiontkError:   # gone or unreadable since it was indexed: nothing to match
                self._features[path] = ((), None)
            else:
                if max(image.shape[:2]) > LONG_SIDE:
                    image = resize_long_side(image, LONG_SIDE)
                gray = self._cv2.cvtColor(image, self._cv2.COLOR_RGB2GRAY)
                self._features[path] = self._orb.detectAndCompute(gray, None)
        return self._features[path]

    def inliers(self, first: str | Path, second: str | Path) -> int:
        key = (str(first), str(second))
        if key not in self._inliers:
            self._inliers[key] = self._count(*self.features(key[0]), *self.features(key[1]))
        return self._inliers[key]

    def _count(self, points_a, descriptors_a, points_b, descriptors_b) -> int:
        if descriptors_a is None or descriptors_b is None or min(len(points_a), len(points_b)) < 3:
            return 0
        good = [pair[0] for pair in self._matcher.knnMatch(descriptors_a, descriptors_b, k=2)
                if len(pair) == 2 and pair[0].distance < RATIO * pair[1].distance]
        if len(good) < 3:
            return 0
        source = np.float32([points_a[m.queryIdx].pt for m in good])
        target = np.float32([points_b[m.trainIdx].pt for m in good])
        _, agree = self._cv2.estimateAffinePartial2D(source, target, method=self._cv2.RANSAC,
                                                     ransacReprojThreshold=REPROJECTION)
        return int(agree.sum()) if agree is not None else 0
