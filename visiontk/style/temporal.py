"""Temporal consistency for stylized video: less flicker from any per-frame stylizer.

A stylizer run on each frame alone paints each frame a little differently, and the differences flicker.
Following the idea of Ruder, Dosovitskiy & Brox (2016), we follow the scene's motion with optical flow
between the *input* frames (OpenCV's DIS, or Farneback), warp the previous stylized frame into the
current one, and blend it in wherever the flow can be trusted. The flow is trusted where the forward
and backward flows agree and away from motion boundaries (their consistency check); elsewhere
(occluded or newly visible regions, or where the flow leaves the frame) the fresh stylization is kept.

    consistent = TemporalConsistency(stylizer)       # any callable: RGB uint8 frame -> stylized frame
    transform_video("in.mp4", "out.mp4", consistent.frames)
    stylize_video("in.mp4", "out.mp4", stylizer)     # the same, with a record of what it cost
    warping_error(input_frames, stylized_frames)     # the flicker measure, lower is steadier

For an optimisation-based stylizer, `prior(frame)` gives the previous result warped into the frame
(and where it is valid) to start from, as Ruder et al. do; `blend(frame, result)` then finishes it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np

Stylizer = Callable[[np.ndarray], np.ndarray]
FLOW_METHODS = ("dis", "farneback")
# Measured on a pan over tubingen.jpg with an early feed-forward network (benchmarks/video_bench.py):
# 0.6 cuts the warping error by ~90% and keeps ~65% of the detail; 0.8 cuts ~97% and keeps ~50%.
DEFAULT_STRENGTH = 0.6
FLOW_SIDE = 512  # flow is computed with the long side at most this (then scaled up): bounded cost


def _gray(rgb: np.ndarray, side: int | None) -> np.ndarray:
    gray = cv2.cvtColor(np.ascontiguousarray(rgb, dtype=np.uint8), cv2.COLOR_RGB2GRAY)
    height, width = gray.shape
    if side and max(height, width) > side:
        scale = side / max(height, width)
        gray = cv2.resize(gray, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
    return gray


def resize_flow(flow: np.ndarray, height: int, width: int) -> np.ndarray:
    """A flow field resampled to (height, width), its vectors scaled to the new pixel size."""
    if flow.shape[:2] == (height, width):
        return flow
    sy, sx = height / flow.shape[0], width / flow.shape[1]
    resized = cv2.resize(flow, (width, height), interpolation=cv2.INTER_LINEAR)
    return (resized * np.array([sx, sy], np.float32)).astype(np.float32)


def optical_flow(source: np.ndarray, target: np.ndarray, method: str = "dis",
                 side: int | None = FLOW_SIDE) -> np.ndarray:
    """Dense flow from `source` to `target` (RGB frames of one size): source(x) ~ target(x + flow(x)).
    (H, W, 2) float32 of (dx, dy) in `source`'s pixels."""
    return resize_flow(_flow(_gray(source, side), _gray(target, side), method), *source.shape[:2])


def _flow(a: np.ndarray, b: np.ndarray, method: str) -> np.ndarray:
    if method == "dis":
        return _dis().calc(a, b, None)
    if method == "farneback":
        return cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 4, 15, 3, 5, 1.2, 0)
    raise ValueError(f"unknown flow method {method!r}: use one of {', '.join(FLOW_METHODS)}")


def _dis():
    # DIS keeps no state between calls; building one is cheap, but not free at 30 frames per second.
    if not hasattr(_dis, "instance"):
        _dis.instance = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return _dis.instance


def warp(image: np.ndarray, flow: np.ndarray, interpolation: int = cv2.INTER_CUBIC) -> np.ndarray:
    """out(x) = image(x + flow(x)), edges repeated. Keeps the dtype (float math inside). Bicubic by
    default: a stylized frame is warped again at every frame, and bilinear's blur would add up."""
    height, width = flow.shape[:2]
    grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    warped = cv2.remap(image.astype(np.float32), grid_x + flow[..., 0], grid_y + flow[..., 1],
                       interpolation=interpolation, borderMode=cv2.BORDER_REPLICATE)
    if image.dtype == np.uint8:
        return np.clip(np.round(warped), 0, 255).astype(np.uint8)
    return warped


def consistency_mask(backward: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """Where the flow can be trusted, (H, W) bool, for the frame `backward` starts from.

    `backward` is the flow from the current frame to the previous one, `forward` the other way. A pixel
    passes when following `backward` and then `forward` brings it back home (else it was occluded),
    when it is not on a motion boundary, and when `backward` stays inside the frame (Ruder et al.'s
    criteria, from Sundaram et al. 2010)."""
    height, width = backward.shape[:2]
    forward_there = warp(forward, backward, cv2.INTER_LINEAR)
    round_trip = np.sum((backward + forward_there) ** 2, axis=2)
    magnitude = np.sum(backward ** 2, axis=2) + np.sum(forward_there ** 2, axis=2)
    occluded = round_trip > 0.01 * magnitude + 0.5
    du_y, du_x = np.gradient(backward[..., 0])
    dv_y, dv_x = np.gradient(backward[..., 1])
    boundary = du_x ** 2 + du_y ** 2 + dv_x ** 2 + dv_y ** 2 > 0.01 * np.sum(backward ** 2, axis=2) + 0.002
    grid_x, grid_y = np.meshgrid(np.arange(width), np.arange(height))
    target_x, target_y = grid_x + backward[..., 0], grid_y + backward[..., 1]
    inside = (target_x >= 0) & (target_x <= width - 1) & (target_y >= 0) & (target_y <= height - 1)
    return ~occluded & ~boundary & inside


@dataclass
class Motion:
    """How frame t relates to frame t-1: the flow back to t-1 and where it is trusted."""

    backward: np.ndarray  # (H, W, 2): frame_t(x) ~ frame_{t-1}(x + backward(x))
    valid: np.ndarray     # (H, W) bool

    def resized(self, height: int, width: int) -> "Motion":
        if self.valid.shape == (height, width):
            return self
        valid = cv2.resize(self.valid.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST)
        return Motion(resize_flow(self.backward, height, width), valid.astype(bool))


def motion(previous: np.ndarray, current: np.ndarray, method: str = "dis",
           side: int | None = FLOW_SIDE) -> Motion:
    """The backward flow from `current` to `previous` (input frames) and its consistency mask, both
    found at the flow's resolution (long side at most `side`) and then scaled to the frames' size: the
    cost stays bounded for HD frames."""
    small_current, small_previous = _gray(current, side), _gray(previous, side)
    backward = _flow(small_current, small_previous, method)
    forward = _flow(small_previous, small_current, method)
    return Motion(backward, consistency_mask(backward, forward)).resized(*current.shape[:2])


@dataclass
class Prior:
    """The previous stylized frame warped into the current one, and where that warp is valid."""

    image: np.ndarray     # (H, W, 3) float32, the stylized frame's size
    valid: np.ndarray     # (H, W) bool


class TemporalConsistency:
    """Wraps a per-frame stylizer so that consecutive stylized frames agree where the scene moved
    consistently: out_t = s_t + strength * valid * (warp(out_{t-1}) - s_t), with s_t the frame's own
    stylization. `strength` 0 is the stylizer alone; near 1 holds the first frame's strokes for as long
    as they stay visible. Call it on the frames of one clip in order (`reset()` between clips)."""

    def __init__(self, stylize: Stylizer | None = None, *, strength: float = DEFAULT_STRENGTH,
                 method: str = "dis", flow_side: int | None = FLOW_SIDE, warm_start: bool = False) -> None:
        if not 0 <= strength <= 1:
            raise ValueError("strength must be between 0 and 1")
        if method not in FLOW_METHODS:
            raise ValueError(f"unknown flow method {method!r}: use one of {', '.join(FLOW_METHODS)}")
        self.stylize, self.strength, self.method, self.flow_side = stylize, strength, method, flow_side
        # warm_start: the stylizer is an optimisation (Gatys) called as stylize(frame, start), start being
        # the previous result warped into this frame, or None for the first frame (Ruder et al. 2016).
        self.warm_start = warm_start
        self.flow_seconds = 0.0  # time spent on flow, to report the overhead
        self.reset()

    def reset(self) -> None:
        self._previous_frame: np.ndarray | None = None
        self._previous_output: np.ndarray | None = None
        self._prior: tuple[np.ndarray, Prior | None] | None = None

    def prior(self, frame: np.ndarray) -> Prior | None:
        """The previous output warped into `frame` (None for a clip's first frame). Cached for `frame`."""
        if self._prior is not None and self._prior[0] is frame:
            return self._prior[1]
        found = None
        follows = self._previous_frame is not None and self._previous_frame.shape == frame.shape
        if follows and self.strength > 0:
            started = time.perf_counter()
            moved = motion(self._previous_frame, frame, self.method, self.flow_side)
            moved = moved.resized(*self._previous_output.shape[:2])
            found = Prior(warp(self._previous_output.astype(np.float32), moved.backward), moved.valid)
            self.flow_seconds += time.perf_counter() - started
        self._prior = (frame, found)
        return found

    def blend(self, frame: np.ndarray, stylized: np.ndarray) -> np.ndarray:
        """Finish frame t: mix its stylization with the warped previous output; remember both."""
        prior = self.prior(frame)
        out = np.asarray(stylized)
        if prior is not None and prior.image.shape == out.shape and self.strength > 0:
            weight = (self.strength * prior.valid.astype(np.float32))[..., None]
            mixed = out.astype(np.float32) + weight * (prior.image - out.astype(np.float32))
            out = np.clip(np.round(mixed), 0, 255).astype(np.uint8) if out.dtype == np.uint8 else mixed
        self._previous_frame, self._previous_output, self._prior = frame, out, None
        return out

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        if self.stylize is None:
            raise ValueError("no stylizer given: use prior() and blend() with your own")
        if self.warm_start:
            prior = self.prior(frame)
            return self.blend(frame, self.stylize(frame, None if prior is None else prior.image))
        return self.blend(frame, self.stylize(frame))

    def frames(self, frames: Sequence[np.ndarray]) -> list[np.ndarray]:
        """A batch of consecutive frames (the signature visiontk.videoio.transform_video expects)."""
        return [self(frame) for frame in frames]


def stylize_video(source: str | Path, output: str | Path, stylize: Stylizer, *, consistent: bool = True,
                  strength: float = DEFAULT_STRENGTH, method: str = "dis", crf: int | None = None,
                  overwrite: bool = False, warm_start: bool = False) -> dict:
    """Stylize every frame of the clip `source` into the clip `output`, steadied by temporal consistency
    (or not, with `consistent=False`); sound and timing are kept. Frames are stylized upright (as a player
    shows them) and written upright. Returns videoio's record plus the settings and the seconds spent."""
    from visiontk.videoio import transform_video

    steady = TemporalConsistency(stylize, strength=strength if consistent else 0.0, method=method,
                                 warm_start=warm_start)
    started = time.perf_counter()
    record = transform_video(source, output, steady.frames, crf=crf, overwrite=overwrite, upright_frames=True,
                             desc="frames")
    return {**record, "consistency": consistent, "strength": steady.strength, "flow": method,
            "seconds": round(time.perf_counter() - started, 3), "flow_seconds": round(steady.flow_seconds, 3)}


def warping_error(inputs: Sequence[np.ndarray], stylized: Sequence[np.ndarray], *,
                  motions: Sequence[Motion] | None = None, method: str = "dis") -> float:
    """Mean temporal warping error: the mean squared difference (RGB in [0, 1]) between stylized frame
    t and stylized frame t-1 warped by the input's flow, over the pixels where that flow is trusted,
    averaged over t. Pass `motions` (from `clip_motions`) to reuse the flow for several stylizations."""
    if len(inputs) != len(stylized) or len(inputs) < 2:
        raise ValueError("need as many stylized frames as input frames, and at least two")
    motions = motions if motions is not None else clip_motions(inputs, method)
    errors = []
    for t, moved in enumerate(motions, start=1):
        current, previous = stylized[t].astype(np.float32) / 255, stylized[t - 1].astype(np.float32) / 255
        moved = moved.resized(*current.shape[:2])
        if moved.valid.any():
            difference = (current - warp(previous, moved.backward)) ** 2
            errors.append(float(difference[moved.valid].mean()))
    return float(np.mean(errors)) if errors else 0.0


def clip_motions(inputs: Sequence[np.ndarray], method: str = "dis",
                 side: int | None = FLOW_SIDE) -> list[Motion]:
    """The motion between each pair of consecutive input frames (len(inputs) - 1 of them)."""
    return [motion(inputs[t - 1], inputs[t], method, side) for t in range(1, len(inputs))]


def pan_zoom_frames(photo: np.ndarray, count: int = 48, size: tuple[int, int] = (256, 256), *,
                    pan: float = 0.2, zoom: float = 1.2) -> list[np.ndarray]:
    """A slow camera move over a still photo, for measuring flicker: a `size` (width, height) window
    that drifts right by `pan` of the photo's width while zooming in by `zoom`, over `count` frames."""
    out_w, out_h = size
    # Bring the photo to the first frame's scale once (area averaging, no aliasing); the zoom then only
    # enlarges, so the moving window never shimmers.
    fit = min(photo.shape[1] * (1 - pan) / out_w, photo.shape[0] / out_h)
    photo = cv2.resize(photo, (round(photo.shape[1] / fit), round(photo.shape[0] / fit)),
                       interpolation=cv2.INTER_AREA)
    height, width = photo.shape[:2]
    frames = []
    for i in range(count):
        step = i / max(count - 1, 1)
        scale = zoom ** step
        crop_w, crop_h = out_w / scale, out_h / scale
        centre_x = width * (1 - pan) / 2 + pan * width * step
        centre_y = height / 2
        # Output pixel (u, v) shows photo pixel (left + u * crop_w / out_w, top + v * crop_h / out_h).
        matrix = np.array([[crop_w / out_w, 0, centre_x - crop_w / 2],
                           [0, crop_h / out_h, centre_y - crop_h / 2]], np.float32)
        frames.append(cv2.warpAffine(photo, matrix, (out_w, out_h), borderMode=cv2.BORDER_REFLECT,
                                     flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP))
    return frames
