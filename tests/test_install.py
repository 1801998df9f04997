"""The package as a user installs it: a wheel in a fresh virtual environment, no repository."""

from __future__ import annotations

import http.cookiejar
import os
import re
import shutil
import socket
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path

import pytest

from planner import config

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


#: Keeps the session the one-time login URL of `planner serve` starts.
_OPENER = urllib.request.build_opener(
    urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
)


def _get(url: str) -> bytes:
    with _OPENER.open(url, timeout=30) as response:
        assert response.status == 200, url
        return response.read()


@pytest.mark.slow
def test_wheel_in_a_fresh_venv_runs_demo_and_serves_every_asset(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(ROOT)],
        check=True,
    )
    (wheel,) = dist.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert not any(n.startswith("webmap/") for n in names)  # no generic top-level package
    assert "planner_web/static/vendor/leaflet/leaflet.js" in names

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, str(wheel)], check=True, env={**os.environ, "PIP_NO_INPUT": "1"})
    planner = str(venv / "bin" / "planner")
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PLANNER_DATA", "VIRTUAL_ENV")}
    env["PATH"] = "/usr/bin:/bin"

    # Without PLANNER_DATA an installed package has no default data: one line naming both.
    missing = subprocess.run(
        [planner, "demo", "--area", "kotka_pyrosm_test"],
        cwd=empty,
        env=env,
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 2
    err = missing.stderr.strip().splitlines()
    assert len(err) == 1 and "PLANNER_DATA" in err[0] and "default" in err[0]

    env["PLANNER_DATA"] = str(config.DATA_DIR)
    subprocess.run([planner, "demo", "--area", "kotka_pyrosm_test"], cwd=empty, env=env, check=True)
    store = empty / "layers" / "kotka_pyrosm_test.gpkg"
    assert store.exists()

    port = _free_port()
    server = subprocess.Popen(
        [planner, "serve", str(store.relative_to(empty)), "--port", str(port)],
        cwd=empty,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = server.stdout.readline()
        assert f"http://127.0.0.1:{port}/" in line
        base = f"http://127.0.0.1:{port}"
        # No accounts in the new store: the printed URL logs this machine's browser in.
        login = re.search(r"http://127\.0\.0\.1:\d+/\?token=[\w-]+", line)
        assert login, line
        _get(login.group(0))
        assets = set()
        for page in ("/", "/?lang=en", "/m", "/api/docs"):
            html = _get(base + page).decode("utf-8")
            assets |= set(re.findall(r'(?:src|href)="(/static/[^"?]+)', html))
        assert any("vendor/leaflet/leaflet.js" in a for a in assets)
        assert any("vendor/swagger-ui/swagger-ui-bundle.js" in a for a in assets)
        assert any("icons/phone-192.png" in a for a in assets)  # the phone view's
        assert len(_get(base + "/m/sw.js")) > 0
        for asset in sorted(assets):
            assert len(_get(base + asset)) > 0, asset
    finally:
        server.terminate()
        server.wait(timeout=30)

    # The analysts' notebooks run from the installed package in a fresh folder (the
    # many-communities one on two small areas, as in tests/test_notebooks.py).
    subprocess.run(
        [*pip, f"{wheel}[notebook]"], check=True, env={**os.environ, "PIP_NO_INPUT": "1"}
    )
    run_it = (
        "import nbclient, nbformat, sys; nb = nbformat.read(sys.argv[1], as_version=4); "
        "nbclient.NotebookClient(nb, timeout=900, kernel_name='python3').execute(); "
        "errors = [o for c in nb.cells if c.cell_type == 'code' for o in c.outputs "
        "if o.output_type == 'error']; print(len(errors), 'errors'); sys.exit(bool(errors))"
    )
    env["PLANNER_AREAS"] = "kotka_pyrosm_test,beijing_tsinghua"
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        shutil.copy(notebook, empty)
        done = subprocess.run(
            [str(venv / "bin" / "python"), "-c", run_it, notebook.name],
            cwd=empty,
            env=env,
            capture_output=True,
            text=True,
            timeout=1800,
        )
        assert done.returncode == 0, notebook.name + done.stdout + done.stderr
    assert (empty / "notebook-stores" / "quickstart.gpkg").exists()
