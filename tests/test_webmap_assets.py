"""The vendored front-end files: present, the versions package-lock.json pins, same bytes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from planner_web import STATIC_DIR, VENDOR_FILES, missing_assets

ROOT = Path(__file__).resolve().parents[1]
LOCK = json.loads((ROOT / "package-lock.json").read_text(encoding="utf-8"))["packages"]
# Vendored folder → (npm package, its dist folder).
PACKAGES = {
    "leaflet": ("leaflet", "dist"),
    "leaflet-geoman": ("@geoman-io/leaflet-geoman-free", "dist"),
    "swagger-ui": ("swagger-ui-dist", ""),
}


def test_every_vendored_file_is_present():
    assert missing_assets() == []


@pytest.mark.parametrize("name", VENDOR_FILES)
def test_vendored_file_is_the_locked_version(name):
    folder = name.split("/")[1]
    package, dist = PACKAGES[folder]
    locked = LOCK[f"node_modules/{package}"]["version"]
    text = (STATIC_DIR / name).read_text(encoding="utf-8", errors="replace")
    if name.endswith(".js"):  # each bundle names its version
        assert re.search(rf"\b{re.escape(locked)}\b", text), (name, locked)
    installed = ROOT / "node_modules" / package
    if not installed.exists():
        pytest.skip("node_modules not installed (make install-web)")
    meta = json.loads((installed / "package.json").read_text(encoding="utf-8"))
    assert meta["version"] == locked
    original = installed / dist / Path(name).name
    assert original.read_bytes() == (STATIC_DIR / name).read_bytes(), (
        f"{name} differs from {original}: run `make vendor`"
    )
