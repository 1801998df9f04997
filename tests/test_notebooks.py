"""The analyst notebooks run top to bottom on the shared data, in a fresh directory.

Each runs from the repository here; ``tests/test_install.py`` runs one from an installed
wheel. The many-communities notebook runs two areas in CI (``PLANNER_AREAS``); all of
them with ``PLANNER_NOTEBOOK_AREAS=all``.
"""

from __future__ import annotations

import os

import nbclient
import nbformat
import pytest

from planner import config

NOTEBOOKS = sorted((config.ROOT / "notebooks").glob("*.ipynb"))
NAMES = [p.stem for p in NOTEBOOKS]
#: Areas of the many-communities notebook in CI (small ones); "all" runs every area.
CI_AREAS = os.environ.get("PLANNER_NOTEBOOK_AREAS", "kotka_pyrosm_test,beijing_tsinghua")


def execute(path, cwd) -> nbformat.NotebookNode:
    """Run a notebook with ``cwd`` as its working directory; return it with outputs."""
    notebook = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(
        notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    ).execute()
    return notebook


def outputs(notebook: nbformat.NotebookNode) -> list[dict]:
    return [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]


def test_the_four_notebooks_are_there_with_outputs_stripped():
    assert NAMES == ["01_quickstart", "02_grids", "03_coverage_and_sites", "04_many_communities"]
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        assert notebook.cells[0].cell_type == "markdown"
        assert "**For " in notebook.cells[0].source  # says what it shows and for whom
        assert outputs(notebook) == [], f"{path.name}: strip outputs before committing"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_notebook_runs_and_shows_maps_and_tables(path, tmp_path, monkeypatch):
    if CI_AREAS != "all":
        monkeypatch.setenv("PLANNER_AREAS", CI_AREAS)
    notebook = execute(path, tmp_path)
    out = outputs(notebook)
    errors = [o for o in out if o.output_type == "error"]
    assert not errors, errors[0]["evalue"] if errors else ""
    images = [o for o in out if "image/png" in o.get("data", {})]
    tables = [o for o in out if "<table" in o.get("data", {}).get("text/html", "")]
    assert images and tables
    if path.stem == "01_quickstart":
        maps = [o for o in out if "L.map" in o.get("data", {}).get("text/html", "")]
        assert maps and "cdn.jsdelivr" not in maps[0]["data"]["text/html"]
    assert (tmp_path / "notebook-stores").is_dir()  # stores go to the working directory
