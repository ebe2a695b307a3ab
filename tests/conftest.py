"""Shared test fixtures: where ../shared is, a private weights cache, and a CLI runner."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VISIONTK_SHARED", ROOT.parent / "shared"))
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


def pytest_collection_modifyitems(config, items) -> None:
    """Tests marked `full` (the longest end-to-end runs) skip unless VISIONTK_FULL_TESTS=1."""
    if os.environ.get("VISIONTK_FULL_TESTS"):
        return
    skip = pytest.mark.skip(reason="one of the longest end-to-end runs (VISIONTK_FULL_TESTS=1)")
    for item in items:
        if "full" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory):
    """Tests never touch the user's own cache."""
    cache = tmp_path_factory.mktemp("visiontk-cache")
    os.environ["VISIONTK_CACHE"] = str(cache)
    os.environ["VISIONTK_OFFLINE"] = "1"  # no test downloads weights from the internet on first use
    yield cache


@pytest.fixture(scope="session")
def shared() -> Path:
    """The shared data and weights every developer and CI has beside the checkout."""
    if not (SHARED / "README.md").is_file():
        pytest.fail(f"{SHARED} not found: tests need ../shared beside the checkout (or VISIONTK_SHARED)")
    return SHARED


@pytest.fixture
def shared_weights(shared, monkeypatch) -> Path:
    """Point the weights search path at ../shared/weights (the real ImageNet VGG16 weights)."""
    monkeypatch.setenv("VISIONTK_MODELS", str(shared / "weights"))
    return shared / "weights"


@pytest.fixture
def run_cli():
    """Invoke `visiontk ARGS...` in-process; returns Click's Result (exit_code, stdout, stderr)."""
    from visiontk.cli.main import cli

    def invoke(*args: str, input: str | None = None):
        return CliRunner().invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)

    return invoke
