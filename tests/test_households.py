"""Household rosters and estimates on the real Nanjing extract and its sample roster."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from planner import config
from planner.cli import run
from planner.errors import PlannerError
from planner.households import (
    EstimateSettings,
    estimate_households,
    join_roster,
    read_roster,
)
from planner.store import Store

ROSTERS = config.DATA_DIR / "rosters"


@pytest.mark.parametrize("name", ["nanjing_xinjiekou_roster.csv", "nanjing_xinjiekou_roster.xlsx"])
def test_roster_join_reports_every_bad_row(nanjing_path, name):
    buildings = Store(nanjing_path).read("buildings")
    buildings["households_source"] = "estimated"
    roster = read_roster(ROSTERS / name)
    assert {"building_id", "households", "residents", "elderly_alone"} <= set(roster.columns)
    joined = join_roster(buildings, roster, source=name)
    problems = dict(
        zip(joined.unmatched["building_ref"].fillna("-"), joined.unmatched["problem"], strict=True)
    )
    assert problems["999999001"].startswith("no building")
    assert problems["192504828"].startswith("building already counted")
    assert "约120" in problems["192504832"]
    # Every roster row is either used or reported.
    assert joined.matched + len(joined.unmatched) == len(roster)
    counted = joined.buildings[joined.buildings["households_source"] == "roster"]
    assert len(counted) == joined.matched >= 510
    row = counted[counted["building_id"] == "265043744"].iloc[0]
    assert (row["households"], row["residents"], row["elderly_alone"]) == (81, 220, 2)


def test_demo_store_has_counted_and_estimated_buildings(nanjing_path):
    store = Store(nanjing_path)
    buildings = store.read("buildings")
    assert buildings["households_source"].isin(["roster", "estimated"]).all()
    assert (buildings["households_source"] == "roster").sum() >= 510
    assert (buildings["households_source"] == "estimated").sum() >= 700
    assert buildings["households"].sum() > 0
    unmatched = store.read("roster_unmatched")
    assert set(unmatched["building_ref"].dropna()) >= {"999999001", "192504828", "192504832"}
    # Shops and public buildings stay; without a roster row they hold no households.
    others = buildings[
        buildings["category"].isin(["shop", "public"])
        & (buildings["households_source"] == "estimated")
    ]
    assert len(others) > 50 and (others["households"] == 0).all()


def test_estimate_formula_and_settings(nanjing_path):
    buildings = Store(nanjing_path).read("buildings")
    metric = "EPSG:4549"
    est = estimate_households(buildings, metric_crs=metric)
    residential = est[(est["category"] == "residential") & (est["levels_source"] == "tag")]
    row = residential.iloc[0]
    expected = round(row["footprint_m2"] * row["levels"] * 0.85 / 90)
    assert row["households"] == expected
    bigger = estimate_households(
        buildings, metric_crs=metric, settings=EstimateSettings(dwelling_area_m2=45)
    )
    assert bigger["households"].sum() > 1.9 * est["households"].sum()
    defaulted = est[(est["levels_source"] == "default") & (est["category"] == "residential")]
    assert (defaulted["levels"] == 6).all()


def test_households_cli_reestimate_and_roster(nanjing_store, capsys):
    assert run(["households", str(nanjing_store.path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["households_total"] > 0
    assert (
        run(
            [
                "households",
                str(nanjing_store.path),
                "--roster",
                str(ROSTERS / "nanjing_xinjiekou_roster.xlsx"),
                "--json",
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["matched"] >= 510
    assert any(r["building_ref"] == "999999001" for r in report["unmatched"])


def test_bad_rosters(tmp_path):
    no_header = tmp_path / "x.csv"
    no_header.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(PlannerError, match="no header row"):
        read_roster(no_header)
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes("楼栋编号,户数\n136251251,20\n".encode("gbk"))
    assert read_roster(gbk)["households"].tolist() == ["20"]
    pdf = tmp_path / "x.pdf"
    pdf.write_text("x")
    with pytest.raises(PlannerError, match="must be .csv or .xlsx"):
        read_roster(pdf)
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(PlannerError, match="cannot read the roster"):
        read_roster(broken)


def test_join_by_address_when_no_id(nanjing_path):
    buildings = Store(nanjing_path).read("buildings")
    named = buildings[buildings["address"].notna()].iloc[:1]
    roster = pd.DataFrame({"row": [1], "address": [named["address"].iloc[0]], "households": ["33"]})
    joined = join_roster(buildings.assign(households_source="estimated"), roster)
    if buildings["address"].value_counts()[named["address"].iloc[0]] == 1:
        assert joined.matched == 1
        assert joined.buildings.loc[named.index[0], "households"] == 33
    else:
        assert "no building" in joined.unmatched["problem"].iloc[0]


@pytest.fixture
def small_limits():
    """Limits small enough to reach with the sample roster; put back after the test."""
    from planner.settings import Limits, settings

    saved = settings.limits
    settings.limits = Limits(roster_max_rows=100, roster_max_bytes=20_000, bad_rows_listed=3)
    yield settings.limits
    settings.limits = saved


def test_roster_size_limits_refuse_with_one_line(small_limits, tmp_path):
    from planner.errors import InputError

    roster = (ROSTERS / "nanjing_xinjiekou_roster.csv").read_text(encoding="utf-8-sig")
    lines = roster.splitlines()
    long = tmp_path / "long.csv"
    long.write_text("\n".join(lines[:150]), encoding="utf-8")
    with pytest.raises(InputError, match="more than 100 rows") as rows:
        read_roster(long)
    assert "\n" not in str(rows.value) and "roster_max_rows" in str(rows.value)
    big = tmp_path / "big.csv"
    big.write_text("\n".join(lines[:2] + lines[2:] * 3), encoding="utf-8")
    with pytest.raises(InputError, match="MB accepted") as size:
        read_roster(big)
    assert "roster_max_bytes" in str(size.value)
    ok = tmp_path / "ok.csv"
    ok.write_text("\n".join(lines[:101]), encoding="utf-8")
    assert len(read_roster(ok)) == 100
