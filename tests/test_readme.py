"""README and the docs pages run as they are written (real weights, shared data) and point only at files
that exist, so the manual can't rot. A Python block that can't run here is preceded by
`<!-- test: skip (why) -->`."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
SKIP_MARK = "<!-- test: skip"


def _label(page: Path) -> str:
    return str(page.relative_to(ROOT))


def python_blocks(page: Path) -> list[str]:
    """The page's ```python blocks, less those marked to skip."""
    found = re.finditer(r"(<!-- test: skip[^>]*-->\s*\n)?```python\n(.*?)```", page.read_text(), flags=re.S)
    return [match.group(2) for match in found if not match.group(1)]


def relative_targets(page: Path) -> list[str]:
    """Where the page's links and images point inside the repository (no web addresses, no anchors)."""
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)   # code shows commands, not links
    text = re.sub(r"`[^`\n]*`", "", text)
    targets = re.findall(r"!?\[[^\]]*\]\(([^)\s]+)\)", text)
    return [target.split("#")[0] for target in targets
            if not re.match(r"[a-z]+:", target) and not target.startswith("#")]


@pytest.mark.parametrize("page", PAGES, ids=_label)
def test_links_and_images_exist(page):
    missing = [target for target in relative_targets(page) if not (page.parent / target).exists()]
    assert not missing, f"{_label(page)} points at files that don't exist: {missing}"


def test_readme_anchors_exist():
    """README's own #links, by GitHub's rule for heading ids (the site's anchors: mkdocs build --strict)."""
    text = re.sub(r"```.*?```", "", README.read_text(), flags=re.S)
    headings = {re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")
                for title in re.findall(r"^#+ (.*)$", text, flags=re.M)}
    anchors = set(re.findall(r"\]\(#([^)]+)\)", text))
    assert anchors and anchors <= headings, anchors - headings


def test_readme_gives_the_commands_ci_runs():
    install = README.read_text().split("\n## Install and test\n", 1)[1]
    commands = re.search(r"```sh\n(.*?)```", install, flags=re.S).group(1).split("\n")[:2]
    assert commands == ['pip install -e ".[test]"', "pytest -q"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert 'python3 -m pip install -q -e ".[test]"' in ci and "python3 -m pytest -q" in ci


def test_usage_names_every_command_without_json():
    import click

    from visiontk.cli.main import cli

    def leaves(group: click.Group, path: str = ""):
        for name, command in group.commands.items():
            if isinstance(command, click.Group):
                yield from leaves(command, f"{path}{name} ")
            else:
                yield f"{path}{name}", command

    without = {name for name, command in leaves(cli) if not any(p.name == "as_json" for p in command.params)}
    for page in (README, ROOT / "docs" / "usage.md"):
        sentence = re.search(r"Every command that reports results has it[;\s(]+(.*?) do not", page.read_text(),
                             flags=re.S).group(1)
        assert set(re.findall(r"`([a-z -]+)`", sentence)) == without, _label(page)


def run_blocks(page: Path, shared: Path) -> dict:
    """Execute the page's Python blocks in order, in one namespace, reading ../shared from the fixture."""
    namespace: dict = {}
    for block in python_blocks(page):
        exec(compile(block.replace("../shared", str(shared)), _label(page), "exec"), namespace)
    return namespace


@pytest.mark.slow
def test_python_api_page_runs(shared, shared_weights, tmp_path, monkeypatch):
    page = ROOT / "docs" / "python-api.md"
    assert len(python_blocks(page)) == 2
    monkeypatch.chdir(tmp_path)   # the outputs go to a scratch folder
    namespace = run_blocks(page, shared)
    assert namespace["same"].same
    assert round(namespace["same"].distance, 2) == 0.43   # the figure the page prints
    assert namespace["last"]["step"] == 4
    for name in ("chelsea_starry.jpg", "butterfly_x2.png", "fashion.png", "tiny-x2.weights.h5"):
        assert (tmp_path / name).stat().st_size > 0
    assert namespace["model"].count_params() > 0


OTHER_PAGES_WITH_CODE = [page for page in PAGES if page.name != "python-api.md" and python_blocks(page)]


@pytest.mark.slow
@pytest.mark.parametrize("page", OTHER_PAGES_WITH_CODE, ids=_label)
def test_page_python_blocks_run(page, shared, shared_weights, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run_blocks(page, shared)
