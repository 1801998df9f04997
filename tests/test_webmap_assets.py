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


# -- the map's own scripts -----------------------------------------------------------------

JS = STATIC_DIR / "js"


def test_both_languages_have_the_same_messages():
    from planner_web.i18n import MESSAGES

    assert set(MESSAGES["zh"]) == set(MESSAGES["en"])


def test_every_message_the_scripts_use_is_in_the_catalogue():
    from planner_web.i18n import MESSAGES

    used = set()
    for path in JS.glob("*.js"):
        used |= set(re.findall(r"\bM\.(\w+)", path.read_text(encoding="utf-8")))
    assert used, "no message used: has the catalogue object been renamed?"
    assert used <= set(MESSAGES["en"]), used - set(MESSAGES["en"])


def test_no_script_but_i18n_chooses_text_by_language():
    # Text chosen inline by language (lang === "zh" ? … : …) would bypass the catalogue.
    for path in JS.glob("*.js"):
        text = path.read_text(encoding="utf-8")
        if path.name != "i18n.js":
            assert ".lang" not in text and "LANG" not in text, path.name
        assert not re.search(r"[\u4e00-\u9fff]", _code(text)), path.name


def test_scripts_are_modules_that_import_only_each_other():
    names = {p.name for p in JS.glob("*.js")}
    assert "main.js" in names
    seen = 0
    for path in JS.glob("*.js"):
        imports = re.findall(r'^import [^;]*? from "([^"]+)";', path.read_text(), re.M)
        for target in imports:
            assert target.startswith("./") and target[2:] in names, (path.name, target)
            seen += 1
    assert seen > len(names)


def _code(text: str) -> str:
    """A script without its comments (which may quote Chinese text)."""
    return re.sub(r"//[^\n]*", "", text)


def test_raw_values_have_names_in_both_languages():
    from planner.topology.checks import KINDS
    from planner_web.i18n import VALUES

    for lang in ("zh", "en"):
        assert {f"kind:{k}" for k in KINDS} <= set(VALUES[lang]), lang
        assert {"building_type:yes", "scenario:lscp", "source:planner sites"} <= set(VALUES[lang])
    assert VALUES["zh"]["kind:households_out_of_range"] == "户数超出范围"
    assert VALUES["en"]["field:walk_m"].endswith("(m)")
