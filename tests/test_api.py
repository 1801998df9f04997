"""The public API: `import planner` gives the steps a notebook calls, each documented."""

from __future__ import annotations

import subprocess
import sys

import planner


def test_every_public_name_resolves_and_is_documented():
    assert planner.__version__
    for name in planner.__all__[1:]:
        value = getattr(planner, name)
        assert value.__doc__ and value.__doc__.strip(), name


def test_import_is_quick_to_start():
    """`import planner` loads no analysis module until one is used."""
    code = "import sys, planner; print(any(m.startswith('planner.') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_functions_named_like_their_module_stay_functions():
    """`planner.coverage` is the function even after its module `planner.coverage` loads."""
    code = (
        "import planner, planner.coverage, planner.viz; from planner.coverage import isochrones; "
        "print(callable(planner.coverage), planner.coverage.__module__, planner.viz.__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "planner.coverage", "planner.viz"]
    assert planner.draw_grids.__module__ == "planner.grids"
    assert callable(planner.walk_to_stations) and callable(planner.make_blocks)
