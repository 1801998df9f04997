"""The data commands: demo, info, import errors (exit 2, one line, store unchanged)."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from planner import config
from planner.cli import run

OSM = config.DATA_DIR / "osm"
# The console script installed beside this interpreter (its venv need not be on PATH).
PLANNER = str(Path(sys.executable).with_name("planner"))


def test_info_json_contract(nanjing_path, capsys):
    assert run(["info", str(nanjing_path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["layers"]["buildings"]["count"] == 1277
    assert info["layers"]["roads"]["count"] >= 300
    h = info["households"]
    assert h["total"] == h["roster"] + h["estimated"] > 0
    assert info["storage_crs"] == "EPSG:4326" and info["metric_crs"].startswith("EPSG:45")


def test_info_text(nanjing_path, capsys):
    assert run(["info", str(nanjing_path)]) == 0
    out = capsys.readouterr().out
    assert "南京新街口" in out and "© OpenStreetMap contributors" in out


def test_demo_command_writes_store(tmp_path, capsys):
    path = tmp_path / "demo.gpkg"
    assert run(["demo", "--area", "guixi_jiangxi", "--store", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["layers"]["buildings"] >= 150 and path.exists()


@pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="gdal-bin not installed")
def test_ogrinfo_lists_layers(nanjing_path):
    out = subprocess.run(
        ["ogrinfo", "-ro", "-q", str(nanjing_path)], capture_output=True, text=True, check=True
    ).stdout
    for layer in ("buildings", "roads", "compounds", "community", "gates"):
        assert f": {layer} (" in out


def test_console_script_exit_status(tmp_path):
    result = subprocess.run(
        [PLANNER, "info", str(tmp_path / "missing.gpkg")], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert result.stderr.startswith("planner: error:") and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["import", "{tmp}/none.osm", "--store", "{store}"], "file not found"),
        (["import", "{tmp}/empty.osm", "--store", "{store}"], "empty"),
        (["import", "{tmp}/broken.osm", "--store", "{store}"], "cannot read"),
        (
            ["import", str(OSM / "nanjing_xinjiekou.osm"), "--store", "{store}", "--bbox", "1,2,3"],
            "W,S,E,N",
        ),
        (
            [
                "import",
                str(OSM / "nanjing_xinjiekou.osm"),
                "--store",
                "{store}",
                "--bbox",
                "32.03,118.76,32.05,118.79",
            ],
            "not W,S,E,N",
        ),
        (["import", "{tmp}/roads.geojson", "--store", "{store}"], "--layer"),
        (["households", "{store}", "--roster", "{tmp}/empty.csv"], "roster"),
    ],
)
def test_bad_input_exits_2_and_keeps_store(nanjing_store, tmp_path, capsys, args, message):
    (tmp_path / "empty.osm").write_text("")
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "broken.osm").write_text("<osm version='0.6'><node id='1' lat='3")
    (tmp_path / "roads.geojson").write_text('{"type":"FeatureCollection","features":[]}')
    before = hashlib.sha256(nanjing_store.path.read_bytes()).hexdigest()
    argv = [a.format(tmp=tmp_path, store=nanjing_store.path) for a in args]
    assert run(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert hashlib.sha256(nanjing_store.path.read_bytes()).hexdigest() == before


def test_many_bad_roster_rows_are_summed_up(nanjing_store, tmp_path, capsys):
    from planner.settings import settings

    header = "楼栋编号,户数"
    rows = [f"nope-{i},{i}" for i in range(40)] + ["also-bad,many"]
    roster = tmp_path / "bad.csv"
    roster.write_text("\n".join([header, *rows]), encoding="utf-8")
    assert run(["households", str(nanjing_store.path), "--roster", str(roster)]) == 0
    out = capsys.readouterr().out
    listed = settings.limits.bad_rows_listed
    assert out.count("  row ") == listed
    summary = [line for line in out.splitlines() if "more rows" in line]
    assert len(summary) == 1 and f"{41 - listed} more rows" in summary[0]
    assert "roster_unmatched" in summary[0]
