"""Perceptual hashes: the cheap first stage that finds exact and near-exact copies.

The hash is pHash (Zauner 2010, as imagehash computes it, but for a faster resize): the image in gray
at 32x32, its 2-D DCT,
the 8x8 lowest frequencies, one bit per coefficient above their median. A copy that was only
resized, re-saved or lightly edited keeps almost all 64 bits.

A flipped or 90-degree-rotated copy has another hash, so each image gets eight: one per symmetry of
the square (the dihedral group). They cost no second DCT: mirroring the 32x32 image left-right
multiplies DCT coefficient (u, v) by (-1)^v, top-bottom by (-1)^u, and transposing it transposes the
coefficients. Two images are copies up to rotation or flip when any of one's eight hashes is close to
the other's first.
"""
from __future__ import annotations

import numpy as np
from PIL import Image
from scipy.fft import dct

HASH_SIDE = 32      # the image is reduced to HASH_SIDE x HASH_SIDE gray before the DCT
HASH_BITS = 8       # an 8x8 block of low frequencies: 64 bits
# Rotations are clockwise.
SYMMETRIES = ("identity", "flip-lr", "flip-ud", "rotate-180", "transpose", "rotate-90", "rotate-270",
              "anti-transpose")

_ODD = np.arange(HASH_BITS) % 2 == 1
_SIGN_U = np.where(_ODD[:, None], -1.0, 1.0) * np.ones((1, HASH_BITS))   # (-1)^u, rows
_SIGN_V = _SIGN_U.T                                                        # (-1)^v, columns


def low_frequencies(rgb: np.ndarray) -> np.ndarray:
    """The 8x8 lowest-frequency DCT coefficients of the image in gray at 32x32."""
    # reducing_gap: shrink by whole factors first, then Lanczos; 3x faster, the same bits but for one or two.
    gray = Image.fromarray(np.asarray(rgb, np.uint8)).convert("L").resize((HASH_SIDE, HASH_SIDE),
                                                                          Image.LANCZOS, reducing_gap=2.0)
    pixels = np.asarray(gray, np.float64)
    return dct(dct(pixels, axis=0, norm="ortho"), axis=1, norm="ortho")[:HASH_BITS, :HASH_BITS]


def symmetric_blocks(block: np.ndarray) -> np.ndarray:
    """The DCT block of each of the eight rotations and flips of the image, in SYMMETRIES' order."""
    both = _SIGN_U * _SIGN_V
    transposed = block.T
    return np.stack([block, block * _SIGN_V, block * _SIGN_U, block * both,
                     transposed, transposed * _SIGN_V, transposed * _SIGN_U, transposed * both])


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """(..., 8, 8) booleans to (...,) uint64, row by row, first bit highest (as imagehash prints them)."""
    flat = bits.reshape(*bits.shape[:-2], HASH_BITS * HASH_BITS).astype(np.uint64)
    weights = np.left_shift(np.uint64(1), np.arange(63, -1, -1, dtype=np.uint64))
    return np.bitwise_or.reduce(flat * weights, axis=-1)


def perceptual_hashes(rgb: np.ndarray) -> np.ndarray:
    """The image's eight pHashes (uint64), one per rotation/flip, the unchanged image's first."""
    blocks = symmetric_blocks(low_frequencies(rgb))
    medians = np.median(blocks.reshape(len(blocks), -1), axis=1)
    return pack_bits(blocks > medians[:, None, None])


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bits that differ between uint64 hashes, broadcasting a against b."""
    return np.bitwise_count(np.bitwise_xor(a, b)).astype(np.int32)


def hash_neighbours(hashes: np.ndarray, max_distance: int, block_rows: int = 1024
                    ) -> list[tuple[int, int, int]]:
    """Pairs (i, j, distance), i < j, whose hashes differ in at most `max_distance` bits, the rotations
    and flips of i counted: `hashes` is (N, 8), each row an image's eight hashes. All pairs are
    compared, in blocks of rows so that memory stays at block_rows x N x 8 bytes."""
    plain = hashes[:, 0]
    pairs = []
    for start in range(0, len(hashes), block_rows):
        rows = hashes[start:start + block_rows]
        distances = hamming(rows[:, :, None], plain[None, None, :]).min(axis=1)   # (rows, N)
        for offset, j in zip(*np.nonzero(distances <= max_distance)):
            i = start + int(offset)
            if i < j:
                pairs.append((i, int(j), int(distances[offset, j])))
    return pairs
