"""Run-time settings shared by every task: device, seeding, threads, progress bars, training strategy.

TensorFlow is imported lazily: the CLI records the user's choices with `configure()` (cheap), and the
first task that needs TensorFlow calls `tensorflow()`, which applies them once.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import signal
import sys
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np

from visiontk.errors import DeviceError, VisiontkError

log = logging.getLogger("visiontk")


@dataclass
class Settings:
    device: str = "auto"          # auto | cpu | gpu
    seed: int | None = None
    quiet: bool = False
    mixed_precision: bool = False  # used on GPU only
    cpu_devices: int = 1          # >1 splits the CPU into logical devices (to test `mirrored` here)


settings = Settings(cpu_devices=int(os.environ.get("VISIONTK_CPU_DEVICES", "1")))
_tf = None


def configure(device: str | None = None, seed: int | None = None, quiet: bool | None = None,
              mixed_precision: bool | None = None, cpu_devices: int | None = None) -> Settings:
    """Record settings; they take effect when TensorFlow is first initialised (seed: at once too)."""
    if device is not None:
        if device not in ("auto", "cpu", "gpu"):
            raise DeviceError(f"unknown device {device!r}: use auto, cpu or gpu")
        if _tf is not None and device != settings.device:
            log.warning("device already chosen (%s); %s applies from the next run", settings.device, device)
        settings.device = device
    if quiet is not None:
        settings.quiet = quiet
    if mixed_precision is not None:
        settings.mixed_precision = mixed_precision
    if cpu_devices is not None:
        settings.cpu_devices = cpu_devices
    if seed is not None:
        settings.seed = seed
        seed_everything(seed)
    return settings


def tensorflow():
    """Import TensorFlow, applying the device, memory-growth and precision settings once."""
    global _tf
    if _tf is not None:
        return _tf
    # 3 hides the C++ runtime's ERROR lines too (e.g. oneDNN's "supports DT_UINT8 only on platforms with
    # AVX-512" during sr train): they are notes, real failures reach Python as exceptions. -vv shows them.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2" if log.getEffectiveLevel() <= logging.DEBUG else "3")
    with _native_stderr_silenced(log.getEffectiveLevel() > logging.DEBUG):
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
    if settings.device == "gpu" and not gpus:
        raise DeviceError("`device` gpu: TensorFlow sees no GPU (use `device` auto or cpu)")
    if settings.device == "cpu" and gpus:
        tf.config.set_visible_devices([], "GPU")
        gpus = []
    for gpu in gpus:
        # Without this TensorFlow reserves all GPU memory at once.
        tf.config.experimental.set_memory_growth(gpu, True)
    if settings.cpu_devices > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * settings.cpu_devices)
    if gpus and settings.mixed_precision:
        import keras
        keras.mixed_precision.set_global_policy("mixed_float16")
    if settings.seed is not None:
        tf.random.set_seed(settings.seed)
    log.debug("TensorFlow %s on %s", tf.__version__, "GPU" if gpus else "CPU")
    _tf = tf
    return tf


@contextlib.contextmanager
def _native_stderr_silenced(silence: bool):
    """TensorFlow's C++ start-up chatter (oneDNN, CUDA probing) ignores TF_CPP_MIN_LOG_LEVEL; it is
    written to file descriptor 2 before Python logging exists, so hide that descriptor meanwhile."""
    if not silence:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def using_gpu() -> bool:
    return bool(tensorflow().config.list_logical_devices("GPU"))


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    """The feature flags of the first CPU in /proc/cpuinfo (empty where there is none, e.g. macOS)."""
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo") as handle:
                cpuinfo = handle.read()
        except OSError:
            return set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return set(value.split())
    return set()


def bfloat16_is_fast(cpuinfo: str | None = None) -> bool:
    """Whether bfloat16 arithmetic runs faster than float32 here: on a GPU of compute capability 8.0 or
    later, or a CPU with AMX-BF16 (Sapphire Rapids and later: ~4-5x for convolutions) or AVX512-BF16
    (Cooper Lake, AMD Zen 4 and later: ~1.6-2.2x measured here with oneDNN). Without either, oneDNN
    emulates bfloat16 and it is slower than float32. `cpuinfo` (text of /proc/cpuinfo) is for tests."""
    if cpuinfo is None and using_gpu():
        tf = tensorflow()
        gpu = tf.config.list_physical_devices("GPU")[0]
        capability = tf.config.experimental.get_device_details(gpu).get("compute_capability", (0, 0))
        return tuple(capability) >= (8, 0)
    return bool(cpu_flags(cpuinfo) & {"amx_bf16", "avx512_bf16"})


def resolve_precision(precision: str) -> str:
    """"auto" -> "bfloat16" where `bfloat16_is_fast()`, else "float32"; "float32"/"bfloat16" as given."""
    if precision in ("float32", "bfloat16"):
        return precision
    if precision != "auto":
        raise VisiontkError(f"unknown precision {precision!r}: use auto, float32 or bfloat16")
    return "bfloat16" if bfloat16_is_fast() else "float32"


@contextlib.contextmanager
def keras_policy(name: str):
    """Build Keras layers under a dtype policy (e.g. mixed_bfloat16) without changing it for anyone else."""
    import keras

    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and (if loaded) TensorFlow so that a run can be repeated."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    if _tf is not None or "tensorflow" in sys.modules:
        import keras
        keras.utils.set_random_seed(seed % 2**32)


def training_strategy(name: str = "default"):
    """A tf.distribute strategy: `default` (one device), `mirrored` (all GPUs, or the logical CPUs),
    or `multiworker` (the cluster described by TF_CONFIG)."""
    tf = tensorflow()
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = [d.name for d in tf.config.list_logical_devices("GPU")]
        devices = devices or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=devices)
    if name == "multiworker":
        if "TF_CONFIG" not in os.environ:
            raise VisiontkError("`strategy` multiworker needs TF_CONFIG describing the cluster")
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise VisiontkError(f"unknown strategy {name!r}: use default, mirrored or multiworker")


STRATEGIES = ("default", "mirrored", "multiworker")


def is_chief(strategy_name: str) -> bool:
    """Whether this process writes the run's files (checkpoints, logs, weights): always, except under
    `multiworker`, where only the cluster's chief does: the `chief` task, or worker 0 when TF_CONFIG
    names no chief (TensorFlow's own rule). The other workers train the same model and write nothing."""
    if strategy_name != "multiworker":
        return True
    try:
        config = json.loads(os.environ.get("TF_CONFIG", "{}"))
        task = config.get("task", {})
        kind, index = task.get("type", "worker"), int(task.get("index", 0))
    except (ValueError, AttributeError, TypeError):
        raise VisiontkError("TF_CONFIG is not valid JSON with a task type and index") from None
    if "chief" in config.get("cluster", {}):
        return kind == "chief"
    return kind == "worker" and index == 0


def progress_enabled() -> bool:
    """Progress bars are shown on a terminal and hidden when quiet or when stderr is piped."""
    return not settings.quiet and sys.stderr.isatty()


def progress(iterable: Iterable | None = None, **kwargs: Any):
    """A tqdm progress bar on stderr that hides itself when it should (see progress_enabled)."""
    from tqdm.auto import tqdm

    kwargs.setdefault("disable", not progress_enabled())
    kwargs.setdefault("leave", False)
    kwargs.setdefault("dynamic_ncols", True)
    return tqdm(iterable, file=sys.stderr, **kwargs)


class GracefulStop:
    """While active, SIGTERM and a first Ctrl-C only set `requested`, so that a batch or training loop
    can finish its current item or step (and save) before stopping; a second one interrupts at once."""

    def __init__(self, notice: str | None = None) -> None:
        self.requested = False
        self.notice = notice
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> "GracefulStop":
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: signals can't be caught here
                pass
        return self

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        if self.notice:
            print(f"visiontk: {self.notice}", file=sys.stderr, flush=True)

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
