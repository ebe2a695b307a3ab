"""README's Python section runs as it is written (real weights, shared data), so the manual can't rot."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks(section: str) -> list[str]:
    text = README.read_text()
    start = text.index(f"\n## {section}\n")
    end = text.find("\n## ", start + 1)
    return re.findall(r"```python\n(.*?)```", text[start:end], flags=re.S)


@pytest.mark.slow
def test_python_api_section_runs(shared, shared_weights, tmp_path, monkeypatch):
    blocks = python_blocks("Python API")
    assert len(blocks) == 2
    # The blocks use ../shared from the repository root; here the outputs go to a scratch folder.
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in blocks:
        exec(compile(block.replace("../shared", str(shared)), "README.md", "exec"), namespace)
    assert namespace["same"].same
    assert namespace["last"]["step"] == 4
    for name in ("chelsea_starry.jpg", "butterfly_x2.png", "fashion.png", "tiny-x2.weights.h5"):
        assert (tmp_path / name).stat().st_size > 0
    assert namespace["model"].count_params() > 0
