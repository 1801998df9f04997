"""Households per building: read and join a community's roster, estimate the rest.

A roster (楼栋户数统计表) is the spreadsheet a community office keeps: one row per
building with its households (户数), residents (人口) and special groups. Rows are
joined to buildings by id, then by address or name; rows that match nothing or
cannot be read are returned, never silently dropped. Buildings without a roster
row get an estimate from footprint × levels.
"""

from __future__ import annotations

import csv
import itertools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planner import settings as planner_settings
from planner.building_use import assess_use
from planner.calibration import building_classes
from planner.errors import InputError, PlannerError
from planner.settings import EstimateSettings

__all__ = [
    "ROSTER_COLUMNS",
    "EstimateSettings",
    "RosterJoin",
    "classify_buildings",
    "default_estimate",
    "estimate_households",
    "join_roster",
    "read_roster",
    "read_table",
]


# OSM building=* values by category.
_RESIDENTIAL = {"residential", "apartments", "dormitory", "terrace", "semidetached_house"}
_HOUSE = {"house", "detached", "bungalow", "farm", "hut", "static_caravan"}
_SHOP = {"retail", "commercial", "kiosk", "supermarket", "shop"}
_PUBLIC = {
    "public", "civic", "government", "school", "university", "college", "kindergarten",
    "hospital", "office", "church", "temple", "mosque", "train_station", "transportation",
    "sports_hall", "stadium", "hotel", "library", "museum",
}  # fmt: skip
_UNKNOWN = {"yes", "building", "construction", None}


def classify_buildings(
    buildings: gpd.GeoDataFrame, compounds: gpd.GeoDataFrame | None = None
) -> gpd.GeoDataFrame:
    """Set each building's ``category`` and ``compound_id``.

    Categories: ``residential``, ``house`` (平房), ``shop`` (临街商铺), ``public``,
    ``mixed`` (use unknown, outside a residential compound) and ``other``. A
    building of unknown use inside a residential compound counts as residential.

    Parameters
    ----------
    buildings
        The buildings layer.
    compounds
        The compounds layer, to place each building in the compound holding its
        representative point.

    Returns
    -------
    geopandas.GeoDataFrame
        A copy with ``category`` and ``compound_id`` filled, and ``compound_kind``
        (the compound's kind, evidence for :func:`estimate_households`, which drops it).
    """
    out = buildings.copy()
    btype = out["building_type"].where(out["building_type"].notna(), None)
    btype = btype.map(lambda v: v.lower() if isinstance(v, str) else v)
    compound_id = pd.Series([None] * len(out), index=out.index, dtype=object)
    compound_kind = pd.Series([None] * len(out), index=out.index, dtype=object)
    if compounds is not None and len(compounds) and len(out):
        points = gpd.GeoSeries(shapely.point_on_surface(out.geometry.to_numpy()), crs=out.crs)
        # Smallest compound first, so a housing compound inside a campus wins.
        ordered = compounds.assign(_area=compounds.to_crs(3857).area).sort_values("_area")
        hits = gpd.sjoin(
            gpd.GeoDataFrame(geometry=points, index=out.index),
            ordered[["compound_id", "kind", "_area", "geometry"]],
            predicate="within",
        ).sort_values("_area")
        hits = hits[~hits.index.duplicated(keep="first")]
        compound_id.loc[hits.index] = hits["compound_id"]
        compound_kind.loc[hits.index] = hits["kind"]
    category = pd.Series("other", index=out.index, dtype=object)
    unknown = btype.isin(_UNKNOWN) | btype.isna()
    category[unknown] = "mixed"
    category[unknown & (compound_kind == "residential")] = "residential"
    category[unknown & compound_kind.isin(["school", "hospital", "campus"])] = "public"
    category[btype.isin(_RESIDENTIAL)] = "residential"
    category[btype.isin(_HOUSE)] = "house"
    category[btype.isin(_PUBLIC)] = "public"
    category[btype.isin(_SHOP)] = "shop"
    for column, value in (("shop", "shop"), ("amenity", "public"), ("office", "public")):
        if column in out:
            category[out[column].notna() & unknown] = value
    out["category"] = category
    out["compound_id"] = compound_id
    # Evidence for the estimate (see planner.building_use); not a field of the layer.
    out["compound_kind"] = compound_kind
    return out


def estimate_households(
    buildings: gpd.GeoDataFrame,
    *,
    metric_crs: str,
    settings: EstimateSettings | None = None,
    only_missing: bool = False,
    dwelling_areas: Mapping[str, float] | None = None,
) -> gpd.GeoDataFrame:
    """Estimate households from footprint × levels × residential share for uncounted buildings.

    Every building's use is weighed first from the evidence the data holds
    (:func:`planner.building_use.assess_use`): its ``residential_share``,
    ``likely_use``, ``share_confidence`` and ``share_evidence`` are set on all
    buildings, counted or not, so a roster figure can be checked against them. Then
    ``households = footprint × levels × residential share ÷ dwelling area``, with the
    dwelling area of the building's class (:func:`planner.calibration.building_class`)
    when ``dwelling_areas`` gives one, else ``settings.dwelling_area_m2``.

    Parameters
    ----------
    buildings
        The buildings layer, with ``category`` set (see :func:`classify_buildings`).
    metric_crs
        CRS in which footprint areas are measured.
    settings
        Estimate parameters; ``planner.settings.settings.estimate`` if None.
    only_missing
        Keep buildings counted from a roster or set by hand (``households_source`` ``roster``
        or ``manual``).
    dwelling_areas
        Dwelling area (m² of residential floor per household) by building class, as
        fitted by :func:`planner.calibration.calibrate`; classes not given use the default.

    Returns
    -------
    geopandas.GeoDataFrame
        A copy with ``footprint_m2``, ``levels`` (defaults filled, ``levels_source``
        = ``default``), the use fields, ``households``, ``residents`` and
        ``households_source`` set.
    """
    settings = settings or planner_settings.settings.estimate
    out = buildings.copy()
    compound_kind = out.pop("compound_kind") if "compound_kind" in out else None
    out["footprint_m2"] = out.geometry.to_crs(metric_crs).area.round(1).to_numpy()
    category = out["category"].fillna("other")
    levels = pd.to_numeric(out["levels"], errors="coerce").to_numpy(dtype=float)
    missing_levels = ~(levels > 0)
    defaults = category.map(settings.default_levels).fillna(1.0).to_numpy(dtype=float)
    out["levels"] = np.where(missing_levels, defaults, levels)
    out["levels_source"] = np.where(
        missing_levels, "default", out["levels_source"].to_numpy(object)
    )
    out = _with_use_tags(out)
    use = assess_use(out, settings=settings, compound_kind=compound_kind)
    for column in use.columns:
        out[column] = use[column].to_numpy()
    estimate = default_estimate(out, settings=settings, dwelling_areas=dwelling_areas)
    target = pd.Series(True, index=out.index)
    if only_missing and "households_source" in out:
        target = ~out["households_source"].isin(["roster", "manual"])
    out.loc[target, "households"] = estimate[target]
    out.loc[target, "residents"] = np.round(
        estimate[target] * settings.persons_per_household
    ).astype("int64")
    out.loc[target, "households_source"] = "estimated"
    for column in ("elderly_alone", "disabled", "left_behind_children"):
        if column in out:
            out.loc[target, column] = 0
    return out


def default_estimate(
    buildings: pd.DataFrame,
    *,
    settings: EstimateSettings | None = None,
    dwelling_areas: Mapping[str, float] | None = None,
) -> pd.Series:
    """Households the estimate gives each building, whatever its source.

    Parameters
    ----------
    buildings
        Buildings with ``footprint_m2``, ``levels``, ``category``,
        ``residential_share`` and ``likely_use`` (as :func:`estimate_households` sets).
    settings
        Estimate parameters.
    dwelling_areas
        Dwelling area by building class; the default for classes not given.

    Returns
    -------
    pandas.Series
        Whole households, indexed like ``buildings``.
    """
    settings = settings or planner_settings.settings.estimate
    category = buildings["category"].fillna("other")
    floor = buildings["footprint_m2"] * buildings["levels"]
    share = pd.to_numeric(buildings["residential_share"], errors="coerce").fillna(0.0)
    area = pd.Series(settings.dwelling_area_m2, index=buildings.index, dtype=float)
    if dwelling_areas:
        classes = building_classes(buildings)
        area = classes.map(dwelling_areas).fillna(area).astype(float)
    estimate = floor * share / area
    estimate = estimate.where(buildings["footprint_m2"] >= settings.min_footprint_m2, 0.0)
    estimate = np.floor(estimate + 0.5).astype("int64")
    # A single-storey house is one household however small its footprint.
    return estimate.where(~((category == "house") & (estimate == 0) & (share > 0)), 1)


def _with_use_tags(buildings: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Fill ``use_tags`` from the ``amenity``/``shop``/``office`` columns stores had before it."""
    legacy = [c for c in ("amenity", "shop", "office") if c in buildings]
    if not legacy:
        return buildings
    out = buildings.copy()
    texts = (
        out["use_tags"].astype(object)
        if "use_tags" in out
        else pd.Series(None, index=out.index, dtype=object)
    )
    for i in out.index[texts.isna().to_numpy()]:
        items = [f"{c}={out.at[i, c]}" for c in legacy if isinstance(out.at[i, c], str)]
        if items:
            texts.at[i] = ";".join(items)
    out["use_tags"] = texts.to_numpy(object)
    return out


# Roster columns: canonical name → accepted headers (Chinese and English, compared loosely).
ROSTER_COLUMNS: dict[str, tuple[str, ...]] = {
    "building_id": ("楼栋编号", "楼号编号", "建筑编号", "编号", "building_id", "id", "osm_id"),
    "name": ("楼栋名称", "楼栋", "名称", "楼名", "name", "building_name"),
    "address": ("地址", "楼栋地址", "门牌", "address"),
    "households": ("户数", "常住户数", "住户数", "households", "hh"),
    "residents": ("人口", "常住人口", "人数", "residents", "population"),
    "elderly_alone": ("独居老人", "elderly_alone"),
    "disabled": ("残疾人", "disabled"),
    "left_behind_children": ("留守儿童", "left_behind_children"),
}
_COUNTS = ("households", "residents", "elderly_alone", "disabled", "left_behind_children")


def _norm(text: object) -> str:
    return re.sub(r"[\s_\-()（）]", "", str(text)).lower()


def read_roster(path: str | Path) -> pd.DataFrame:
    """Read a household roster (CSV or XLSX), finding its header row.

    Title rows above the header (common in office spreadsheets) are skipped; the
    CSV may be UTF-8 (with or without BOM) or GBK. Columns are renamed to the
    canonical names of :data:`ROSTER_COLUMNS`; unknown columns are kept as they
    are. Counts are left as text here: :func:`join_roster` parses and reports them.

    Parameters
    ----------
    path
        The roster file.

    Returns
    -------
    pandas.DataFrame
        All text, with a ``row`` column giving the 1-based data row number.
    """
    return read_table(
        path,
        ROSTER_COLUMNS,
        required=("households",),
        any_of=("building_id", "address", "name"),
        hint="a households column (户数) and a building id (楼栋编号), address (地址) or "
        "name (楼栋名称)",
    )


def read_table(
    path: str | Path,
    columns: dict[str, tuple[str, ...]],
    *,
    required: tuple[str, ...],
    any_of: tuple[str, ...] = (),
    hint: str,
    what: str = "roster",
) -> pd.DataFrame:
    """Read an office spreadsheet (CSV or XLSX) whose header row may sit below titles.

    The header is the first of the first 10 rows naming every ``required`` column and
    (if given) one of ``any_of``; headers are matched loosely against ``columns``
    (canonical name → accepted Chinese and English headers) and renamed. The size and
    row limits of ``planner.settings.limits`` apply; the CSV may be UTF-8 or GBK.

    Parameters
    ----------
    path
        The file.
    columns
        Canonical name → accepted headers.
    required, any_of
        What the header row must name.
    hint
        The header row's requirement in words, for the error message.
    what
        What the file is, for messages (``roster``, ``staff roster``...).

    Returns
    -------
    pandas.DataFrame
        All text, with a ``row`` column giving the 1-based data row number.
    """
    path = Path(path)
    if not path.exists():
        raise PlannerError("file not found", source=str(path))
    limits = planner_settings.settings.limits
    size = path.stat().st_size
    if size > limits.roster_max_bytes:
        most = limits.roster_max_bytes / 2**20
        msg = (
            f"the {what} is {size / 2**20:.1f} MB, more than the {most:.0f} MB accepted "
            "(planner.settings: limits.roster_max_bytes)"
        )
        raise InputError(msg, source=str(path))
    # Read a few rows past the limit (title rows above the header, at most 10), not the
    # whole of an oversized file.
    max_rows = limits.roster_max_rows + 11
    suffix = path.suffix.lower()
    try:
        if suffix in (".xlsx", ".xlsm", ".xls"):
            raw = pd.read_excel(path, header=None, dtype=str, nrows=max_rows)
        elif suffix in (".csv", ".txt"):
            raw = _read_csv(path, nrows=max_rows, what=what)
        else:
            msg = f"a {what} must be .csv or .xlsx"
            raise PlannerError(msg, source=str(path))
    except PlannerError:
        raise
    except Exception as exc:  # pandas/openpyxl raise many kinds for broken files
        msg = f"cannot read the {what} ({type(exc).__name__}: {exc})"
        raise PlannerError(msg, source=str(path)) from None
    lookup = {_norm(h): canon for canon, hs in columns.items() for h in hs}
    header_row = None
    for i in range(min(len(raw), 10)):
        found = {lookup.get(_norm(v)) for v in raw.iloc[i] if isinstance(v, str)}
        if set(required) <= found and (not any_of or set(any_of) & found):
            header_row = i
            break
    if header_row is None:
        msg = f"no header row with {hint} in the first 10 rows"
        raise PlannerError(msg, source=str(path))
    headers = [
        lookup.get(_norm(v), str(v)) if isinstance(v, str) else f"column_{j + 1}"
        for j, v in enumerate(raw.iloc[header_row])
    ]
    table = raw.iloc[header_row + 1 :].copy()
    if len(table) > limits.roster_max_rows:
        msg = (
            f"the {what} has more than {limits.roster_max_rows} rows "
            "(planner.settings: limits.roster_max_rows); split it by community"
        )
        raise InputError(msg, source=str(path))
    table.columns = headers
    table = table.map(lambda v: v.strip() if isinstance(v, str) else v)
    table.insert(0, "row", np.arange(1, len(table) + 1))
    return table.reset_index(drop=True)


def _read_csv(path: Path, *, nrows: int | None = None, what: str = "roster") -> pd.DataFrame:
    """The file's rows as text (missing cells None), padded to the widest row: a title
    line above the header has fewer fields than the table below it."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            with path.open(newline="", encoding=encoding) as f:
                rows = list(itertools.islice(csv.reader(f), nrows))
        except UnicodeDecodeError:
            continue
        except csv.Error as exc:
            raise PlannerError(f"the {what} is not valid CSV: {exc}", source=str(path)) from None
        if not any(any(cell.strip() for cell in row) for row in rows):
            raise PlannerError(f"the {what} is empty", source=str(path))
        width = max(len(row) for row in rows)
        cells = [
            [c if c != "" else None for c in row] + [None] * (width - len(row)) for row in rows
        ]
        return pd.DataFrame(cells, dtype=object)
    raise PlannerError(f"the {what} is neither UTF-8 nor GBK text", source=str(path))


@dataclass
class RosterJoin:
    """Result of :func:`join_roster`.

    Attributes
    ----------
    buildings
        The buildings with roster counts applied (``households_source='roster'``).
    unmatched
        Roster rows not used, each with a ``problem`` (no such building,
        duplicate, unreadable count, blank row), in the ``roster_unmatched`` schema.
    matched
        Number of buildings counted from the roster.
    """

    buildings: gpd.GeoDataFrame
    unmatched: pd.DataFrame
    matched: int


def _raw_json(row: pd.Series) -> str:
    values = {k: v for k, v in row.items() if k != "row" and isinstance(v, str)}
    return json.dumps(values, ensure_ascii=False)


def join_roster(
    buildings: gpd.GeoDataFrame, roster: pd.DataFrame, *, source: str = ""
) -> RosterJoin:
    """Join roster rows to buildings by id, else by address, else by name.

    Each row must give households as a whole number; other counts default to 0
    when blank. A building named by several rows takes the first good one; later
    rows are reported as duplicates. Nothing is dropped silently.

    Parameters
    ----------
    buildings
        The buildings layer (``building_id``, ``osm_id``, ``address``, ``name``).
    roster
        As returned by :func:`read_roster`.
    source
        The roster's file name, recorded with each unmatched row.

    Returns
    -------
    RosterJoin
    """
    rows = roster.copy()
    problems: list[dict] = []

    def report(mask: pd.Series, problem: str) -> None:
        for _, r in rows[mask].iterrows():
            ref = next(
                (r.get(c) for c in ("building_id", "address", "name") if isinstance(r.get(c), str)),
                None,
            )
            problems.append(
                {
                    "row": r["row"],
                    "building_ref": ref,
                    "problem": problem,
                    "raw": _raw_json(r),
                    "source": source,
                }
            )

    data_cols = [c for c in rows.columns if c != "row"]
    blank = rows[data_cols].isna().all(axis=1)
    report(blank, "blank row")
    rows = rows[~blank]

    counts = {}
    bad = pd.Series(False, index=rows.index)
    for column in _COUNTS:
        text = rows[column] if column in rows else pd.Series(None, index=rows.index, dtype=object)
        number = pd.to_numeric(text, errors="coerce")
        unreadable = text.notna() & (number.isna() | (number < 0) | (number % 1 != 0))
        if column == "households":
            unreadable |= text.isna()
        bad |= unreadable
        counts[column] = number.fillna(0)
    if bad.any():
        # Say which column was unreadable, per row.
        for idx in rows.index[bad]:
            cols = [
                c
                for c in _COUNTS
                if c in rows
                and isinstance(rows.at[idx, c], str)
                and pd.isna(pd.to_numeric(rows.at[idx, c], errors="coerce"))
            ]
            if "households" in rows and pd.isna(rows.at[idx, "households"]):
                cols.insert(0, "households")
            detail = ", ".join(f"{c}={rows.at[idx, c]!r}" for c in cols) or "negative count"
            report(rows.index == idx, f"unreadable count: {detail}")
    rows = rows[~bad]
    for column in _COUNTS:
        rows[column] = counts[column][~bad].astype("int64")

    # Match keys: id (plain or typed OSM id), then address, then name.
    ids = {str(v): i for i, v in buildings["building_id"].items() if v is not None}
    if "osm_id" in buildings:
        for i, v in buildings["osm_id"].items():
            if isinstance(v, str):
                ids.setdefault(v, i)
                ids.setdefault(v.lstrip("wrn"), i)
    by_address = _unique_lookup(buildings.get("address"))
    by_name = _unique_lookup(buildings.get("name"))
    target = pd.Series([None] * len(rows), index=rows.index, dtype=object)
    for column, lookup in (("building_id", ids), ("address", by_address), ("name", by_name)):
        if column not in rows:
            continue
        todo = target.isna() & rows[column].notna()
        keys = rows.loc[todo, column].astype(str).str.replace(r"\.0$", "", regex=True)
        target[todo] = keys.map(lookup)
    no_match = target.isna()
    report(rows.index.isin(rows.index[no_match]), "no building with this id, address or name")
    rows = rows[~no_match].assign(_target=target[~no_match])
    dup = rows["_target"].duplicated(keep="first")
    report(rows.index.isin(rows.index[dup]), "building already counted by an earlier row")
    rows = rows[~dup]

    out = buildings.copy()
    index = rows["_target"].to_numpy()
    for column in _COUNTS:
        out.loc[index, column] = rows[column].to_numpy()
    out.loc[index, "households_source"] = "roster"
    unmatched = pd.DataFrame(problems, columns=["row", "building_ref", "problem", "raw", "source"])
    return RosterJoin(out, unmatched.sort_values("row").reset_index(drop=True), len(rows))


def _unique_lookup(values: pd.Series | None) -> dict[str, object]:
    """Map text → index for values that occur exactly once (ambiguous ones can't match)."""
    if values is None:
        return {}
    values = values.dropna().astype(str).str.strip()
    values = values[values != ""]
    once = values[~values.duplicated(keep=False)]
    return dict(zip(once.to_numpy(), once.index, strict=True))
