"""Household rosters and estimates on the real Nanjing extract and its sample roster."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from planner import config, schema
from planner.cli import run
from planner.errors import PlannerError
from planner.households import (
    EstimateSettings,
    classify_buildings,
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


# -- evidence, plausibility, calibration (issue 16) ------------------------------------


def _named(buildings, name):
    rows = buildings[buildings["name"] == name]
    assert len(rows) == 1, name
    return rows.iloc[0]


def test_non_residential_towers_get_no_households(nanjing_path):
    buildings = Store(nanjing_path).read("buildings")
    # Before the evidence: 884, 613 and 266 households from footprint × levels × 0.5.
    for name, use in (
        ("全民健身中心", "sport"),
        ("新世纪广场", "office"),
        ("华泰证券大厦", "office"),
    ):
        row = _named(buildings, name)
        assert row["households_source"] == "estimated"
        assert row["households"] == 0 and row["residential_share"] == 0, name
        assert row["likely_use"] == use and row["share_confidence"] == "high", name
        assert row["share_evidence"], name
    assert "证券" in _named(buildings, "华泰证券大厦")["share_evidence"]
    assert "fitness_centre" in _named(buildings, "全民健身中心")["share_evidence"]
    # The unnamed 40-storey tower of 4,600 m² (1,027 households before).
    tower = buildings[buildings["building_id"] == "318702395"].iloc[0]
    assert tower["households"] == 0 and tower["likely_use"] == "commercial"


def test_hospital_roster_row_is_flagged_not_overwritten(nanjing_path):
    store = Store(nanjing_path)
    hospital = store.read("buildings").set_index("building_id").loc["318197091"]
    assert (hospital["households"], hospital["households_source"]) == (1737, "roster")
    assert hospital["likely_use"] == "hospital" and hospital["residential_share"] == 0
    warnings = store.read("household_warnings").set_index("warning_id")
    row = warnings.loc["roster_non_residential:318197091"]
    assert row["households"] == 1737 and not row["dismissed"] and "医院" in row["detail"]
    assert set(warnings["kind"]) <= set(schema.HOUSEHOLD_WARNING_KINDS)


def test_residential_compounds_keep_their_figures(nanjing_path):
    buildings = Store(nanjing_path).read("buildings")
    roster = read_roster(ROSTERS / "nanjing_xinjiekou_roster.csv")
    counted = roster.drop_duplicates("building_id").set_index("building_id")
    rostered = buildings[buildings["households_source"] == "roster"].set_index("building_id")
    # The roster's figure still wins, hospital included.
    same = rostered.index.intersection(counted.index)
    assert len(same) >= 510
    figures = pd.to_numeric(counted.loc[same, "households"], errors="coerce")
    assert (rostered.loc[same, "households"] == figures).mean() > 0.99
    # Estimated without the roster, the buildings in housing compounds keep the full
    # residential share (the roster covers them all, so estimate them all).
    store = Store(nanjing_path)
    compounds = store.read("compounds")
    classified = classify_buildings(buildings.drop(columns=["category"]), compounds)
    estimated = estimate_households(classified, metric_crs=store.metric_crs)
    housing = compounds.loc[compounds["kind"] == "residential", "compound_id"]
    homes = estimated[estimated["compound_id"].isin(housing)]
    assert len(homes) > 300
    assert (homes["likely_use"] == "residential").mean() > 0.9
    assert (homes["residential_share"] == 0.85).mean() > 0.85


def _synthetic_community(seed: int = 1):
    """Residential and commercial towers side by side, with a known truth per class.

    Towers of flats hold one household per 70 m² of dwelling floor, walk-ups one per 110
    m², buildings of unknown use one per 160 m²; office towers none. The default
    constants assume 90 m² for all.
    """
    import geopandas as gpd
    import numpy as np
    import shapely

    rng = np.random.default_rng(seed)
    kinds = (
        # building type, levels, dwelling area of the truth (0 = no homes), count
        ("apartments", 18, 70.0, 40),
        ("residential", 6, 110.0, 60),
        ("yes", 8, 160.0, 40),
        ("commercial", 30, 0.0, 20),
    )
    rows, geoms = [], []
    for kind, levels, area, count in kinds:
        for _ in range(count):
            i = len(rows)
            side = rng.uniform(20, 40) / 111_000  # degrees
            x, y = 118.77 + (i % 20) * 0.0006, 32.04 + (i // 20) * 0.0006
            geoms.append(shapely.box(x, y, x + side, y + side))
            rows.append(
                {
                    "building_id": f"b{i}",
                    "building_type": kind,
                    "levels": float(levels),
                    "levels_source": "tag",
                    "category": {"yes": "mixed", "commercial": "shop"}.get(kind, "residential"),
                    "_area": area,
                }
            )
    frame = gpd.GeoDataFrame(rows, geometry=geoms, crs="EPSG:4326")
    frame = schema.conform("buildings", frame)
    est = estimate_households(frame, metric_crs="EPSG:4549")
    floor = est["footprint_m2"] * est["levels"] * est["residential_share"]
    noise = rng.uniform(0.9, 1.1, len(est))
    truth = np.where(frame["_area"] > 0, np.floor(floor / frame["_area"] * noise + 0.5), 0)
    return frame, truth.astype(int)


def test_calibration_recovers_a_known_truth():
    import numpy as np

    from planner.calibration import calibrate

    frame, truth = _synthetic_community()
    rostered = np.random.default_rng(2).random(len(frame)) < 0.5
    frame = frame.assign(households=np.where(rostered, truth, 0))
    frame["households_source"] = np.where(rostered, "roster", "estimated")
    first = estimate_households(frame, metric_crs="EPSG:4549", only_missing=True)
    fit = calibrate(first)
    cv = fit.cross_validation
    assert fit.applied and cv["buildings"] == int(rostered.sum() - (truth[rostered] == 0).sum())
    assert cv["calibrated"]["mae"] < cv["defaults"]["mae"] / 2
    areas = {c["class"]: c["dwelling_area_m2"] for c in fit.classes}
    assert abs(areas["residential:high"] - 70) < 7 and abs(areas["residential:multi"] - 110) < 11
    final = estimate_households(
        frame, metric_crs="EPSG:4549", only_missing=True, dwelling_areas=fit.dwelling_areas
    )
    rest = ~rostered
    calibrated = final["households"].to_numpy()[rest]
    defaults = first["households"].to_numpy()[rest]
    # Stated error on the unrostered buildings: their total within 5 % of the truth, and
    # the sum of per-building errors within 10 % of it (the defaults' errors, which partly
    # cancel in the total, sum to over 20 %); no household in the office towers.
    total = truth[rest].sum()
    assert abs(calibrated.sum() - total) <= 0.05 * total
    assert np.abs(calibrated - truth[rest]).sum() <= 0.10 * total
    assert np.abs(defaults - truth[rest]).sum() > 0.20 * total
    offices = (frame["building_type"] == "commercial").to_numpy()
    assert (final["households"].to_numpy()[offices] == 0).all()


def test_calibration_needs_enough_rostered_buildings():
    import numpy as np

    from planner.calibration import calibrate

    frame, truth = _synthetic_community()
    few = np.zeros(len(frame), dtype=bool)
    few[:3] = True
    frame = frame.assign(households=np.where(few, truth, 0))
    frame["households_source"] = np.where(few, "roster", "estimated")
    fit = calibrate(estimate_households(frame, metric_crs="EPSG:4549", only_missing=True))
    assert not fit.applied and "fewer than" in fit.reason and not fit.cross_validation


def test_plausibility_kinds_on_the_real_extract(nanjing_path):
    from planner.plausibility import check_households

    buildings = Store(nanjing_path).read("buildings")
    low = EstimateSettings(household_ceiling=100)
    warnings = check_households(buildings, settings=low)
    above = warnings[warnings["kind"] == "estimate_above_ceiling"]
    estimated = buildings[buildings["households_source"] == "estimated"]
    assert len(above) == (estimated["households"] > 100).sum() > 0
    # A roster figure on a building with no floor area.
    tiny = buildings.copy()
    i = tiny.index[tiny["households_source"] == "roster"][0]
    tiny.loc[i, "footprint_m2"] = 0.0
    found = check_households(tiny)
    assert f"roster_no_size:{tiny.at[i, 'building_id']}" in set(found["warning_id"])
    # Households per floor area ten times the community's: a density outlier.
    dense = buildings.copy()
    j = dense.index[(dense["households_source"] == "roster") & (dense["residential_share"] > 0.5)][
        0
    ]
    dense.loc[j, "households"] = dense.at[j, "households"] * 10
    found = check_households(dense)
    assert f"density_outlier:{dense.at[j, 'building_id']}" in set(found["warning_id"])


def test_households_cli_warnings_calibration_dismiss_and_explain(nanjing_store, capsys):
    path = str(nanjing_store.path)
    assert run(["households", path, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    cv = report["calibration"]["cross_validation"]
    assert cv["folds"] == 5 and cv["buildings"] >= 500
    assert {"mae", "total_error_pct"} <= set(cv["calibrated"]) == set(cv["defaults"])
    assert report["warnings"]["open"]["roster_non_residential"] >= 1
    assert run(["households", path]) == 0
    text = capsys.readouterr().out
    assert "roster_non_residential:318197091" in text and "not plan defects" in text
    warning = "roster_non_residential:318197091"
    assert run(["households", path, "--dismiss", warning]) == 2  # a reason is required
    capsys.readouterr()
    assert run(["households", path, "--dismiss", warning, "--reason", "医院职工宿舍，已核实"]) == 0
    capsys.readouterr()
    # Re-estimating keeps the dismissal: the roster's figure is unchanged.
    assert run(["households", path, "--json"]) == 0
    rows = {r["warning_id"]: r for r in json.loads(capsys.readouterr().out)["warnings"]["rows"]}
    assert rows[warning]["dismissed"]
    stored = Store(path).read("household_warnings").set_index("warning_id")
    assert stored.loc[warning, "dismiss_reason"] == "医院职工宿舍，已核实"
    assert run(["households", path, "--explain", "华泰证券大厦"]) == 0
    text = capsys.readouterr().out
    assert "证券" in text and "= 0" in text and "households: 0 (estimated)" in text
    assert run(["households", path, "--explain", "318197091", "--json"]) == 0
    explained = json.loads(capsys.readouterr().out)
    assert explained["households"] == 1737 and explained["estimate"] == 0
    assert explained["warnings"][0]["dismissed"]
    assert run(["households", path, "--explain", "no-such-building"]) == 2


def test_warnings_are_not_plan_defects(nanjing_path, capsys):
    # The demo's plan is clean; its household warnings do not make `planner check` fail.
    assert len(Store(nanjing_path).read("household_warnings")) > 0
    assert run(["check", str(nanjing_path)]) == 0
    assert "roster_non_residential" not in capsys.readouterr().out
