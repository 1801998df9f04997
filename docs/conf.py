"""Sphinx configuration of the planner's documentation (``docs/``).

Build: ``python -m sphinx -W -b html docs docs/_build/html`` (warnings are errors, as in
the test suite). Nothing is fetched: no intersphinx, a theme that ships with Sphinx.
"""

from __future__ import annotations

import importlib
import inspect

import planner

project = "网格与党群服务站规划 · Grid planner"
author = "grid-planner contributors"
copyright = "grid-planner contributors; map data © OpenStreetMap contributors (ODbL)"
release = planner.__version__
language = "zh_CN"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
myst_heading_anchors = 3

# numpy-style docstrings; the types live in the signatures.
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
autodoc_typehints = "signature"
autodoc_member_order = "bysource"
autodoc_default_options = {"show-inheritance": False}

html_theme = "alabaster"
html_static_path = ["_static"]
html_title = "Grid planner · 网格规划"
html_theme_options = {"description": "网格与党群服务站规划", "show_powered_by": False}


def _exports_table() -> str:
    """The top-level names as a reST table, each linked to its documentation in its module."""
    rows = []
    for name, module in planner._EXPORTS.items():
        doc = inspect.getdoc(getattr(importlib.import_module(module), name)) or ""
        summary = doc.split("\n\n")[0].replace("\n", " ")
        rows.append(f"   * - :py:obj:`planner.{name} <{module}.{name}>`\n     - {summary}")
    head = ".. list-table::\n   :header-rows: 1\n   :widths: 30 70\n\n"
    head += "   * - name\n     - what it does\n"
    return head + "\n".join(rows) + "\n"


def _insert_exports(app, docname: str, source: list[str]) -> None:
    if docname == "api/planner":
        source[0] = source[0].replace(".. planner-exports", _exports_table())


def setup(app):
    app.connect("source-read", _insert_exports)
