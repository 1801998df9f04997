"""The analyst notebooks run top to bottom on a real store."""

from __future__ import annotations

import shutil

import nbclient
import nbformat
import pytest

from planner import config

NOTEBOOKS = sorted((config.ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, nanjing_path, tmp_path, monkeypatch):
    store = tmp_path / "store.gpkg"
    shutil.copyfile(nanjing_path, store)
    monkeypatch.setenv("PLANNER_STORE", str(store))
    notebook = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    errors = [
        o
        for c in notebook.cells
        if c.cell_type == "code"
        for o in c.outputs
        if o.output_type == "error"
    ]
    assert not errors
    images = [
        o
        for c in notebook.cells
        if c.cell_type == "code"
        for o in c.outputs
        if "image/png" in o.get("data", {})
    ]
    assert len(images) >= 2  # the grid map and the coverage curve


def test_there_is_a_notebook():
    assert NOTEBOOKS
