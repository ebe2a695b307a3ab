"""From image files to index rows: read each image once, hash it, and describe it with the network.

Images are resized so that their long side is `Settings.size` (aspect kept, since a crop changes the
aspect and distorting it would move the descriptor), and run through the network in batches of
images that came out the same shape (a folder of camera photos is two or three shapes).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
from PIL import Image, ImageOps

from visiontk.errors import UsageError, VisiontkError
from visiontk.imageio import check_input_file, max_pixels, read_image, resize_long_side
from visiontk.similar.hashing import HASH_SIDE, perceptual_hashes
from visiontk.similar.library import HASHES_ONLY, Index, Settings, concatenate

BATCH = 16          # images per forward pass
PENDING = 64        # images read ahead before the network runs (bounds memory)


@dataclass
class FileFacts:
    """What identifies a file's content without reading it (and, when they change, with)."""

    path: str
    size: int
    mtime: int       # nanoseconds

    @classmethod
    def of(cls, path: str | os.PathLike) -> "FileFacts":
        found = check_input_file(Path(path).resolve())   # a FIFO would block the hash for ever
        info = found.stat()
        return cls(str(found), info.st_size, info.st_mtime_ns)


def read_shrunk(path: str | os.PathLike, long_side: int) -> tuple[np.ndarray, tuple[int, int]]:
    """The image as RGB uint8, decoded straight at a smaller size where the format allows (JPEG's DCT
    scaling: 1/2, 1/4 or 1/8, keeping at least `long_side` pixels on the long side), several times faster
    than a full decode followed by a resize; and its full (width, height) after EXIF rotation. Anything
    but a plain JPEG of sane size goes through imageio.read_image (its checks, its error messages)."""
    check_input_file(path)
    try:
        with Image.open(path) as image:
            width, height = image.size
            if image.format != "JPEG" or width * height > max_pixels():
                raise ValueError("not for the fast path")
            scale = max(1, min(8, max(width, height) // max(long_side, 1)))
            image.draft("RGB", (width // scale, height // scale))
            turned = ImageOps.exif_transpose(image).convert("RGB")
            rgb = np.asarray(turned, np.uint8)
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError):
        rgb = read_image(path)
        return rgb, (rgb.shape[1], rgb.shape[0])
    if (turned.width > turned.height) != (width > height) and width != height:
        width, height = height, width      # EXIF turned it a quarter
    return rgb, (width, height)


class Describer:
    """Descriptors and hashes for images, made the way `settings` says (the network loads once)."""

    def __init__(self, settings: Settings, network=None) -> None:
        from visiontk.backbones.descriptors import POOLINGS, check_backbone

        if settings.backbone != HASHES_ONLY:
            check_backbone(settings.backbone)
        if settings.pooling not in POOLINGS:
            raise UsageError(f"unknown pooling {settings.pooling!r}: use {', '.join(POOLINGS)}")
        self.settings = settings
        self._network = network

    @property
    def read_side(self) -> int:
        """The long side images need when read: the network's, or enough for the 32x32 hash."""
        return self.settings.size if self.settings.has_descriptors else 4 * HASH_SIDE

    @property
    def network(self):
        if self._network is None:
            from visiontk.backbones.descriptors import feature_map_model

            self._network = feature_map_model(self.settings.backbone)
        return self._network

    def feature_maps(self, images: list[np.ndarray]) -> list[np.ndarray]:
        """The network's last convolutional activations, (1, h, w, C) per RGB uint8 image, in order."""
        resized = [resize_long_side(image, self.settings.size) for image in images]
        out: list[np.ndarray] = [np.zeros(0)] * len(images)
        by_shape: dict[tuple, list[int]] = {}
        for i, image in enumerate(resized):
            by_shape.setdefault(image.shape, []).append(i)
        for members in by_shape.values():
            for start in range(0, len(members), BATCH):
                chosen = members[start:start + BATCH]
                batch = np.stack([resized[i] for i in chosen]).astype(np.float32)
                maps = np.asarray(self.network.predict_on_batch(batch))
                for i, one in zip(chosen, maps):
                    out[i] = one[None]
        return out

    def describe_arrays(self, images: list[np.ndarray]) -> np.ndarray:
        """(N, D) unit descriptors of RGB uint8 images, in their order."""
        from visiontk.backbones.descriptors import pool

        if not images or self.settings.backbone == HASHES_ONLY:
            return np.zeros((len(images), 0), np.float32)
        return np.concatenate([pool(maps, self.settings.pooling) for maps in self.feature_maps(images)])

    def describe_files(self, files: Iterable[FileFacts], digests: dict[str, str],
                       on_failure: Callable[[Path, VisiontkError], None] | None = None,
                       on_done: Callable[[int], None] | None = None) -> Index:
        """Index rows for `files` (digests: their sha256 by path). An unreadable file raises, or goes to
        `on_failure` when given (and is left out). `on_done(n)` after each n images."""
        parts = [Index(self.settings)]
        pending: list[tuple[FileFacts, np.ndarray, tuple[int, int]]] = []
        for facts in files:
            try:
                pending.append((facts, *read_shrunk(facts.path, self.read_side)))
            except VisiontkError as exc:
                if on_failure is None:
                    raise
                on_failure(Path(facts.path), exc)
                continue
            if len(pending) >= PENDING:
                parts.append(self._rows(pending, digests, on_done))
                pending = []
        if pending:
            parts.append(self._rows(pending, digests, on_done))
        return concatenate(parts)

    def _rows(self, pending: list[tuple[FileFacts, np.ndarray, tuple[int, int]]], digests: dict[str, str],
              on_done: Callable[[int], None] | None) -> Index:
        images = [image for _, image, _ in pending]
        facts = [f for f, _, _ in pending]
        rows = Index(self.settings, paths=[f.path for f in facts],
                     file_sizes=np.array([f.size for f in facts], np.int64),
                     mtimes=np.array([f.mtime for f in facts], np.int64),
                     sha256=[digests[f.path] for f in facts],
                     widths=np.array([size[0] for _, _, size in pending], np.int32),
                     heights=np.array([size[1] for _, _, size in pending], np.int32),
                     descriptors=self.describe_arrays(images),
                     hashes=np.stack([perceptual_hashes(image) for image in images]))
        if on_done:
            on_done(len(pending))
        return rows
