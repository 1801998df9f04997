"""Reports and exports: the workbook, the atlas and GIS files open in the tools made for them."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess

import openpyxl
import pandas as pd
import pyogrio
import pytest

from planner.cli import run
from planner.report import report_tables, write_report


def _md5(path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_report_tables_agree_with_the_store(tsinghua_store):
    tables = report_tables(tsinghua_store)
    grids = tsinghua_store.read("grids")
    assert tables["grids"]["households"].sum() == grids["households"].sum()
    assert list(tables["grids"]["grid_code"]) == sorted(grids["grid_code"])
    buildings = tsinghua_store.read("buildings")
    counted = buildings.groupby("grid_code").size()
    assert (
        tables["grids"]
        .set_index("grid_code")["buildings"]
        .equals(
            counted.reindex(tables["grids"]["grid_code"]).fillna(0).astype(int).rename("buildings")
        )
    )
    stations = tables["stations"]
    served = stations.dropna(subset=["walk_m_p50"])
    assert (served["walk_m_p50"] <= served["walk_m_p90"]).all()
    assert (served["walk_m_p90"] <= served["walk_m_max"]).all()
    comparison = tables["comparison"].set_index("measure")
    assert comparison.loc["households_covered", "scenario"] >= 0
    assert {"community", "report date", "plan version"} <= set(tables["sources"]["item"])


def test_workbook_has_chinese_sheets_and_headers_and_writes_nothing(tsinghua_store, tmp_path):
    before = _md5(tsinghua_store.path)
    out = tmp_path / "报表.xlsx"
    assert run(["report", str(tsinghua_store.path), "--out", str(out), "--json"]) == 0
    book = openpyxl.load_workbook(out)
    assert book.sheetnames == [
        "网格",
        "片区",
        "服务站",
        "步行范围外楼栋",
        "问题",
        "方案比较",
        "来源与日期",
    ]
    headers = [c.value for c in book["网格"][1]]
    assert headers[:4] == ["网格编码", "名称", "片区代码", "户数"]
    assert "专职网格员" in headers
    measures = [row[0].value for row in book["方案比较"].iter_rows(min_row=2)]
    assert "覆盖户数" in measures
    assert _md5(tsinghua_store.path) == before
    english = tmp_path / "report.xlsx"
    write_report(tsinghua_store, english, lang="en")
    assert openpyxl.load_workbook(english).sheetnames[0] == "grids"


@pytest.mark.slow
def test_atlas_has_one_page_per_grid_and_opens(tsinghua_store, tmp_path):
    out = tmp_path / "atlas.pdf"
    report = write_report(tsinghua_store, out)
    grids = tsinghua_store.read("grids")
    assert report["pages"] == len(grids) + 1
    if shutil.which("pdfinfo"):
        info = subprocess.run(["pdfinfo", str(out)], capture_output=True, text=True, check=True)
        assert re.search(r"Pages:\s+(\d+)", info.stdout).group(1) == str(len(grids) + 1)
        fonts = subprocess.run(["pdffonts", str(out)], capture_output=True, text=True).stdout
        assert "CJK" in fonts  # Chinese text is set in the CJK font, embedded
        subprocess.run(
            ["pdftoppm", "-png", "-r", "30", "-f", "2", "-l", "2", str(out), str(tmp_path / "p")],
            check=True,
        )
        assert list(tmp_path.glob("p*.png"))


@pytest.mark.parametrize("fmt", ["geojson", "gpkg", "shp", "csv", "xlsx"])
def test_export_opens_in_its_reader(tsinghua_store, tmp_path, fmt):
    out = tmp_path / f"grids.{fmt}"
    assert run(["export", str(tsinghua_store.path), "--layer", "grids", "--out", str(out),
                "--crs", "EPSG:4549", "--json"]) == 0  # fmt: skip
    grids = tsinghua_store.read("grids")
    if fmt in ("geojson", "gpkg", "shp"):
        back = pyogrio.read_dataframe(out)
        assert len(back) == len(grids)
        assert back.crs.to_epsg() == 4549
        assert back.geometry.area.sum() == pytest.approx(grids.to_crs(4549).area.sum(), rel=1e-6)
    else:
        back = pd.read_csv(out) if fmt == "csv" else pd.read_excel(out)
        assert len(back) == len(grids) and "geometry" in back
    if fmt == "shp":
        sidecar = pd.read_csv(tmp_path / "grids.fields.csv")
        row = sidecar.set_index("full_name").loc["fulltime_workers"]
        assert row["shapefile_name"] == "fulltime_w" and row["chinese_name"] == "专职网格员"
        assert "fulltime_w" in back.columns and back["name"].str.contains("网格").all()


def test_bad_export_requests_say_what_is_wrong(tsinghua_store, tmp_path, capsys):
    path = str(tsinghua_store.path)
    cases = [
        (["--layer", "nope", "--out", str(tmp_path / "x.geojson")], "unknown layer 'nope'"),
        (["--layer", "grids", "--out", str(tmp_path / "x.dwg")], "unknown export format 'dwg'"),
        (["--layer", "grids", "--out", str(tmp_path / "x.shp"), "--crs", "EPSG:0"], "CRS"),
    ]
    for args, message in cases:
        assert run(["export", path, *args]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
    assert run(["report", path, "--out", str(tmp_path / "r.docx")]) == 2
    assert ".xlsx or .pdf" in capsys.readouterr().err
    assert not list(tmp_path.glob(".*part"))


def test_report_needs_a_plan(tsinghua_store, tmp_path, capsys):
    empty = tsinghua_store.read("grids").iloc[0:0]
    tsinghua_store.write("grids", empty)
    assert run(["report", str(tsinghua_store.path), "--out", str(tmp_path / "r.xlsx")]) == 2
    assert "planner grids" in capsys.readouterr().err
    assert not (tmp_path / "r.xlsx").exists()
