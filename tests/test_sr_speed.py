"""visiontk sr upscale: precision (the shared bfloat16 hardware check), batched tiles, output sizes."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

CPUINFO = "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse2 avx2 avx512f {extra}\nbogomips\t: 1\n"


@pytest.mark.parametrize("extra, fast", [("avx512_bf16", True), ("amx_bf16 amx_tile", True),
                                         ("avx512_vnni", False), ("", False)])
def test_bfloat16_is_fast_reads_the_cpu_flags(extra, fast):
    from visiontk.runtime import bfloat16_is_fast

    assert bfloat16_is_fast(CPUINFO.format(extra=extra)) is fast


def test_stylize_auto_precision_uses_the_same_check(monkeypatch):
    from visiontk import runtime
    from visiontk.style.transfer import resolve_precision

    for fast, expected in ((True, "bfloat16"), (False, "float32")):
        monkeypatch.setattr(runtime, "bfloat16_is_fast", lambda fast=fast: fast)
        assert resolve_precision("auto") == expected
