"""End-to-end steps shared by the CLI, the web jobs and notebooks: store → store."""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planner import config, schema
from planner import settings as planner_settings
from planner.assess import SPECIAL_FIELDS
from planner.building_use import assess_building
from planner.calibration import Calibration, building_classes
from planner.calibration import calibrate as fit_calibration
from planner.communities import read_communities, read_osm_communities
from planner.coverage import run_coverage_and_sites
from planner.crs import STORAGE_CRS, in_china, metric_crs_for
from planner.errors import InputError, PlannerError
from planner.grids import make_grids_step, rebalance_step
from planner.households import (
    EstimateSettings,
    classify_buildings,
    default_estimate,
    estimate_households,
    join_roster,
    read_roster,
)
from planner.ingest.files import read_file, to_layer
from planner.ingest.osm import read_osm, summarise
from planner.plan_commit import commit_plan
from planner.plausibility import check_households, warning_counts
from planner.progress import Progress, no_progress
from planner.store import (
    OSM_ATTRIBUTION,
    Store,
    copy_store,
    is_database_url,
    store_exists,
    store_location,
)
from planner.topology import check_and_fix

__all__ = [
    "DEMO_ANALYSIS",
    "DEMO_STEPS",
    "OSM_LAYERS",
    "PAGE_ANALYSIS",
    "AnalysisStep",
    "Bbox",
    "apply_roster",
    "demo_area",
    "explain_households",
    "import_layer",
    "import_osm",
    "mark_internal_roads",
    "parse_bbox",
    "read_boundary",
    "reestimate",
    "run_analysis",
    "run_demo",
    "write_buildings",
]

#: The layers an OSM import writes.
OSM_LAYERS = (
    "community",
    "buildings",
    "roads",
    "barriers",
    "compounds",
    "gates",
    "stations",
    "candidate_sites",
)


#: ``(west, south, east, north)`` in degrees.
Bbox = tuple[float, float, float, float]

#: How :func:`parse_bbox` words a refused box for each caller (texts kept as each had them):
#: the command line's ``--bbox`` clip says W,S,E,N; the web API's ``bbox`` parameter says
#: minlon,minlat,maxlon,maxlat and names the problem.
_CLIP_REFUSED = "`bbox` {text!r} is not W,S,E,N with W<E and S<N in degrees (lon first)"
_BBOX_MESSAGES: dict[bool, dict[str, str]] = {
    False: {
        "numbers": "`bbox` must be W,S,E,N in degrees, got {text!r}",
        "range": _CLIP_REFUSED,
        "inverted": _CLIP_REFUSED,
    },
    True: {
        "numbers": "bbox must be four numbers minlon,minlat,maxlon,maxlat, got {text!r}",
        "swapped": "bbox {text!r} looks like lat,lon: give longitude first "
        "(minlon,minlat,maxlon,maxlat), e.g. {south},{west},{north},{east}",
        "range": "bbox {text!r} is out of range: longitudes -180..180, latitudes -90..90",
        "inverted": "bbox {text!r} is inverted: need minlon <= maxlon and minlat <= maxlat",
    },
}


def parse_bbox(text: str, *, query: bool = False) -> Bbox:
    """Parse a ``west,south,east,north`` box in degrees, longitude first.

    The one parser of boxes people type: ``planner import --bbox`` (a clip) and the
    ``bbox`` parameter of the web API and OGC API (a map query, ``query=True``). Both
    refuse text that is not four numbers, coordinates out of range and inverted boxes.
    A query also refuses a box that reads as China with latitude and longitude exchanged
    (a client's usual mistake), accepts a box of zero width or height (a point) and
    names each problem in its message; a clip needs an area and has one message for
    every bad box.

    Parameters
    ----------
    text
        Four comma-separated numbers.
    query
        Apply the rules and wording of a map query rather than of a clip.

    Returns
    -------
    tuple of float
        ``(west, south, east, north)``.

    Raises
    ------
    PlannerError
        Naming the problem (with ``source="bbox"`` for a query).
    """
    try:
        values = [float(v) for v in str(text).split(",")]
    except ValueError:
        values = []
    problem = _bbox_problem(values, query=query)
    if problem is None:
        west, south, east, north = values
        return west, south, east, north
    names = dict(zip(("west", "south", "east", "north"), values, strict=False))
    msg = _BBOX_MESSAGES[query][problem].format(text=text, **names)
    if query:
        raise PlannerError(msg, source="bbox")
    raise PlannerError(msg)


def _bbox_problem(values: list[float], *, query: bool) -> str | None:
    """What is wrong with a parsed box: numbers, swapped, range, inverted (None = nothing)."""
    if len(values) != 4 or (query and not all(math.isfinite(v) for v in values)):
        return "numbers"
    west, south, east, north = values
    if query and in_china(south, west) and in_china(north, east) and not in_china(west, south):
        return "swapped"
    # Written as comparisons that NaN fails (a clip does not refuse it as a number).
    longitudes = -180 <= west <= 180 and -180 <= east <= 180
    latitudes = -90 <= south <= 90 and -90 <= north <= 90
    if not (longitudes and latitudes):
        return "range"
    # A clip needs an area; a query may be a point.
    if not ((west <= east and south <= north) if query else (west < east and south < north)):
        return "inverted"
    return None


def read_boundary(path: str | Path) -> shapely.Geometry:
    """Read a community boundary file as one lon/lat polygon (all polygons merged)."""
    frame = read_file(path).frame
    polys = frame[frame.geom_type.isin(["Polygon", "MultiPolygon"])]
    if polys.empty:
        raise PlannerError("the boundary file has no polygon", source=str(path))
    return shapely.union_all(polys.geometry.to_numpy())


def _clip_communities(communities: gpd.GeoDataFrame, box: shapely.Geometry) -> gpd.GeoDataFrame:
    """Communities cut to ``box``; those outside it left out (an error if none is left)."""
    clipped = shapely.intersection(communities.geometry.to_numpy(), box)
    keep = ~shapely.is_empty(clipped) & (shapely.area(clipped) > 0)
    if not keep.any():
        msg = "no administrative boundary of `admin_level` reaches into `bbox`"
        raise InputError(msg, param="bbox")
    return communities[keep].assign(geometry=clipped[keep]).reset_index(drop=True)


def import_osm(
    source: str | Path,
    store_path: str | Path,
    *,
    bbox: tuple[float, float, float, float] | None = None,
    boundary_file: str | Path | None = None,
    name: str = "",
    code: str = "C001",
    admin_level: str | int | None = None,
    settings: EstimateSettings | None = None,
    progress: Progress = no_progress,
) -> tuple[Store, dict[str, Any]]:
    """Import an OSM file into a store, with households estimated.

    An existing store keeps its other layers (grids, edge areas...); the layers
    an OSM import makes are replaced in one all-or-nothing write.

    Parameters
    ----------
    source
        ``.osm`` or ``.osm.pbf`` file.
    store_path
        GeoPackage to create or update.
    bbox, boundary_file
        Optional clip; without one the data's extent is the community boundary. A
        boundary file whose polygons carry several community codes (a street
        office's communities, :func:`planner.communities.read_communities`) gives
        one community each; else its polygons make one community.
    name, code
        Community name (Chinese allowed) and code (first part of grid codes).
    admin_level
        Communities from administrative boundary relations of this level
        (:func:`planner.communities.read_osm_communities`): those of ``boundary_file``
        when it is an OSM file, else of ``source``; each named and coded from its tags.
    settings
        Household estimate settings.
    progress
        Called at each step.

    Returns
    -------
    (Store, report)
    """
    boundary, boundary_source, communities = None, "extent", None
    if admin_level is not None and boundary_file is None:
        # The source's own administrative boundaries, clipped to the box if one is given.
        communities = read_osm_communities(str(source), admin_level=admin_level)
        if bbox is not None:
            communities = _clip_communities(communities, shapely.box(*bbox))
    elif boundary_file is not None:
        communities = read_communities(
            str(boundary_file), name=name, code=code, admin_level=admin_level
        )
    if communities is not None:
        geoms = communities.geometry.to_numpy()
        boundary = geoms[0] if len(geoms) == 1 else shapely.union_all(geoms)
        boundary_source = "file"
    elif bbox is not None:
        boundary, boundary_source = shapely.box(*bbox), "bbox"
    progress("read OSM")
    result = read_osm(source, boundary=boundary, boundary_source=boundary_source)
    centre = result.boundary.centroid
    metric = metric_crs_for(centre.x, centre.y)
    progress("classify buildings and estimate households")
    buildings = schema.conform("buildings", result.layers["buildings"])
    buildings = classify_buildings(buildings, result.layers["compounds"])
    buildings = estimate_households(buildings, metric_crs=metric, settings=settings)
    layers = dict(result.layers, buildings=buildings)
    layers["roads"] = mark_internal_roads(layers["roads"], layers["compounds"])
    from_osm = communities is not None and (communities["boundary_source"] == "osm").all()
    if communities is not None and (len(communities) > 1 or from_osm):
        # A boundaries file naming several communities (or OSM boundaries, each named
        # and coded from its tags): one row each, clipped as one.
        layers["community"] = communities
    else:
        layers["community"] = gpd.GeoDataFrame(
            {
                "community_code": [code],
                "name": [name or Path(source).stem],
                "boundary_source": [result.boundary_source],
            },
            geometry=[result.boundary],
            crs=STORAGE_CRS,
        )
    report = summarise(result)
    report["communities"] = len(layers["community"])
    report["metric_crs"] = metric
    report["households"] = int(buildings["households"].sum())
    source_entry = {"name": Path(source).name, "kind": "osm", "attribution": OSM_ATTRIBUTION}
    progress("write store")
    store_path = store_location(store_path)
    if store_exists(store_path):
        store = Store(store_path)
        sources = [
            s for s in store.metadata.get("sources", []) if s.get("name") != source_entry["name"]
        ]
        metadata = {"sources": [*sources, source_entry], "metric_crs": metric}
    else:
        store = Store.create(
            store_path, metric_crs=metric, name=name or Path(source).stem, sources=[source_entry]
        )
        metadata = {}
    warnings = _import_warnings(store, buildings)
    report["household_warnings"] = warning_counts(warnings)
    log = [{"layer": "*", "action": "import", "detail": report, "reason": f"import {source}"}]
    frames = {k: layers[k] for k in OSM_LAYERS}
    store.write_many({**frames, "household_warnings": warnings}, log=log, metadata=metadata)
    return store, report


def _import_warnings(store: Store, buildings: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Plausibility warnings of freshly imported buildings, keeping earlier dismissals."""
    previous = store.read("household_warnings") if store.has("household_warnings") else None
    return check_households(buildings, previous=previous)


def mark_internal_roads(roads: gpd.GeoDataFrame, compounds: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Flag roads lying (90 % of their length or more) inside a compound as internal lanes."""
    roads = roads.copy()
    roads["internal"] = False
    if roads.empty or compounds.empty:
        return roads
    area = shapely.union_all(compounds.geometry.to_numpy())
    lengths = shapely.length(roads.geometry.to_numpy())
    inside = shapely.length(shapely.intersection(roads.geometry.to_numpy(), area))
    roads["internal"] = (lengths > 0) & (inside >= 0.9 * lengths)
    return roads


def import_layer(
    source: str | Path,
    store_path: str | Path,
    layer: str,
    *,
    crs: str | None = None,
    replace: bool = True,
) -> tuple[Store, dict[str, Any]]:
    """Import a GIS file into one layer of a store (creating the store if needed).

    Parameters
    ----------
    source
        Any file :func:`planner.ingest.files.read_file` reads.
    store_path
        The store.
    layer
        Target layer name from the schema.
    crs
        CRS to assume if the file declares none.
    replace
        Replace the layer (default) or append to it.

    Returns
    -------
    (Store, report)
    """
    importable = layer in schema.LAYERS and layer not in schema.HISTORY_LAYERS
    if not importable or schema.LAYERS[layer].geometry is None:
        spatial = ", ".join(
            n for n, s in schema.LAYERS.items() if s.geometry and n not in schema.HISTORY_LAYERS
        )
        msg = f"`layer` must be one of: {spatial}"
        raise InputError(msg, param="layer")
    read = read_file(source, crs=crs)
    frame, notes = to_layer(read.frame, layer, source=str(source))
    store_path = store_location(store_path)
    if store_exists(store_path):
        store = Store(store_path)
    else:
        centre = shapely.union_all(frame.geometry.to_numpy()).centroid
        store = Store.create(
            store_path,
            metric_crs=metric_crs_for(centre.x, centre.y),
            sources=[{"name": Path(source).name, "kind": "file"}],
        )
    if layer == "buildings":
        # A households value given in the file (0 included: shops) is a count, not an estimate.
        counted = (
            pd.to_numeric(frame["households"], errors="coerce").notna().to_numpy()
            if "households" in frame
            else np.zeros(len(frame), dtype=bool)
        )
        frame = schema.conform("buildings", frame)
        frame = classify_buildings(frame, store.read("compounds"))
        frame["households_source"] = np.where(counted, "roster", "estimated")
        frame = estimate_households(frame, metric_crs=store.metric_crs, only_missing=True)
    if layer == "roads":
        frame = mark_internal_roads(schema.conform("roads", frame), store.read("compounds"))
    if not replace and store.has(layer):
        frame = pd.concat([store.read(layer), frame], ignore_index=True)
        frame = gpd.GeoDataFrame(frame, geometry="geometry", crs=STORAGE_CRS)
    report = {
        "layer": layer,
        "features": len(frame),
        "source_crs": read.source_crs,
        "dropped_empty": read.dropped_empty,
        "repaired": read.repaired,
        "warnings": read.warnings + notes,
    }
    log = [{"layer": layer, "action": "import", "detail": report, "reason": f"import {source}"}]
    also = {"household_warnings": _import_warnings(store, frame)} if layer == "buildings" else {}
    store.write_many({layer: frame, **also}, log=log)
    return store, report


def apply_roster(
    store: Store,
    roster_path: str | Path,
    *,
    settings: EstimateSettings | None = None,
    calibrate: bool = True,
) -> dict[str, Any]:
    """Join a household roster to the store's buildings; keep unmatched rows in a table.

    Buildings not in the roster keep (or get) an estimate, calibrated on the rostered
    buildings when that beats the defaults (:func:`planner.calibration.calibrate`);
    every figure is checked for plausibility (:mod:`planner.plausibility`). Returns a
    report with ``matched``, ``unmatched`` (the rows and their problems), household
    totals, ``calibration`` and ``warnings``.
    """
    roster = read_roster(roster_path)
    buildings = store.read("buildings", missing_ok=False)
    buildings = classify_buildings(buildings.drop(columns=["category"]), store.read("compounds"))
    manual = buildings[buildings["households_source"] == "manual"].set_index("building_id")
    buildings["households_source"] = "estimated"
    joined = join_roster(buildings, roster, source=Path(roster_path).name)
    result = joined.buildings.copy()
    # A planner's own figure wins over the roster: keep it, and list where they differ.
    kept = result["building_id"].isin(manual.index).to_numpy()
    disagree = []
    if kept.any():
        ids = result.loc[kept, "building_id"]
        roster_hh = pd.to_numeric(result.loc[kept, "households"], errors="coerce").fillna(0)
        was_roster = result.loc[kept, "households_source"] == "roster"
        for field in ("households", "residents", *SPECIAL_FIELDS):
            result.loc[kept, field] = manual.loc[ids, field].to_numpy()
        result.loc[kept, "households_source"] = "manual"
        disagree = [
            {"building_id": str(b), "manual": int(m), "roster": int(r)}
            for b, m, r, w in zip(
                ids, manual.loc[ids, "households"], roster_hh, was_roster, strict=True
            )
            if w and int(m) != int(r)
        ]
    result, calibration, warnings = _estimate_and_check(
        store, result, settings=settings, calibrate=calibrate
    )
    unmatched = pd.concat([store.read("roster_unmatched"), joined.unmatched], ignore_index=True)
    unmatched = unmatched.drop_duplicates(subset=["source", "row", "problem"], keep="last")
    report = {
        "roster": str(roster_path),
        "rows": int(len(roster)),
        "matched": joined.matched,
        "unmatched": joined.unmatched[["row", "building_ref", "problem"]].to_dict("records"),
        "households_total": int(result["households"].sum()),
        "households_roster": int(
            result.loc[result["households_source"] == "roster", "households"].sum()
        ),
        "manual_kept": int(kept.sum()),
        "manual_differs": disagree,
        **_households_report(result, calibration, warnings),
    }
    log = [
        {
            "layer": "buildings",
            "action": "roster",
            "detail": {k: v for k, v in report.items() if k not in ("unmatched", "warnings")},
            "reason": f"join roster {Path(roster_path).name}",
        }
    ]
    sources = store.metadata.get("sources", [])
    sources = [s for s in sources if s.get("name") != Path(roster_path).name]
    sources.append({"name": Path(roster_path).name, "kind": "roster"})
    write_buildings(
        store,
        result,
        log=log,
        also={"roster_unmatched": unmatched, "household_warnings": warnings},
        metadata={"sources": sources},
    )
    return report


def reestimate(
    store: Store, settings: EstimateSettings | None = None, *, calibrate: bool = True
) -> dict[str, Any]:
    """Re-estimate households of every building not counted from a roster.

    The evidence on each building's use is weighed again, the estimate calibrated on
    the rostered buildings when that beats the defaults, and every figure checked for
    plausibility (warnings dismissed earlier stay dismissed while their building's
    households are unchanged).
    """
    buildings = store.read("buildings", missing_ok=False)
    buildings = classify_buildings(buildings.drop(columns=["category"]), store.read("compounds"))
    result, calibration, warnings = _estimate_and_check(
        store, buildings, settings=settings, calibrate=calibrate
    )
    report = {
        "buildings": int(len(result)),
        "estimated": int((result["households_source"] == "estimated").sum()),
        "households_total": int(result["households"].sum()),
        **_households_report(result, calibration, warnings),
    }
    write_buildings(
        store,
        result,
        log=[
            {
                "layer": "buildings",
                "action": "estimate",
                "detail": {k: v for k, v in report.items() if k != "warnings"},
                "reason": "planner households",
            }
        ],
        also={"household_warnings": warnings},
    )
    return report


def explain_households(
    store: Store,
    building_id: str,
    *,
    settings: EstimateSettings | None = None,
    calibrate: bool = True,
) -> dict[str, Any]:
    """How one building's household figure was reached: evidence, share, class, formula, source.

    Nothing is written. The figure is worked out as :func:`reestimate` would, and
    compared with the one the store holds (a roster's or a planner's count wins).

    Parameters
    ----------
    store
        The store.
    building_id
        The building: its ``building_id``, its OSM id (``w323621143``) or its name when
        no other building has it.
    settings
        Estimate settings.
    calibrate
        Calibrate on the rostered buildings when that beats the defaults.

    Returns
    -------
    dict
        The building, each piece of evidence, the vote, the share, the class and its
        dwelling area, the formula with its numbers, the stored figure and its source,
        and the warnings on it.
    """
    settings = settings or planner_settings.settings.estimate
    stored = store.read("buildings", missing_ok=False)
    match = (stored["building_id"] == building_id) | (stored["osm_id"] == building_id)
    if not match.any() and (stored["name"] == building_id).sum() == 1:
        match = stored["name"] == building_id
    if not match.any():
        msg = f"no building {building_id!r} in the store (give an id, or a name only one has)"
        raise InputError(msg, param="building_id")
    buildings = classify_buildings(stored.drop(columns=["category"]), store.read("compounds"))
    kinds = buildings["compound_kind"]
    result, calibration, warnings = _estimate_and_check(
        store, buildings, settings=settings, calibrate=calibrate
    )
    i = stored.index[match.to_numpy()][0]
    row = result.loc[i]
    use = assess_building(
        building_type=row["building_type"],
        category=row["category"],
        name=row["name"],
        use_tags=row["use_tags"],
        pois=row["pois"],
        landuse=row["landuse"],
        compound_kind=kinds[i],
        footprint_m2=float(row["footprint_m2"]),
        levels=float(row["levels"]),
        levels_known=row["levels_source"] in ("tag", "height"),
        settings=settings,
    )
    cls = building_classes(result.loc[[i]]).iloc[0]
    fitted = calibration.applied and cls in calibration.dwelling_areas
    area = calibration.dwelling_areas[cls] if fitted else settings.dwelling_area_m2
    areas = calibration.dwelling_areas if calibration.applied else None
    estimate = int(
        default_estimate(result.loc[[i]], settings=settings, dwelling_areas=areas).iloc[0]
    )
    held = stored.loc[i]
    mine = warnings[warnings["building_id"] == row["building_id"]]
    row = row.where(row.notna(), None)
    return {
        "building_id": str(row["building_id"]),
        "osm_id": row["osm_id"],
        "name": row["name"],
        "building_type": row["building_type"],
        "category": row["category"],
        "compound_id": row["compound_id"],
        "compound_kind": kinds[i] if isinstance(kinds[i], str) else None,
        "footprint_m2": float(row["footprint_m2"]),
        "levels": float(row["levels"]),
        "levels_source": row["levels_source"],
        "evidence": [
            {"source": e.source, "what": e.what, "use": e.use, "weight": e.weight}
            for e in use.evidence
        ],
        "ground_floor_shops": use.ground_floor_shops,
        "residential_votes": use.residential_votes,
        "other_votes": use.other_votes,
        "prior": {"probability": settings.unknown_prior, "weight": settings.prior_weight},
        "probability": use.probability,
        "residential_share": use.share,
        "likely_use": use.likely_use,
        "share_confidence": use.confidence,
        "class": cls,
        "dwelling_area_m2": round(float(area), 1),
        "dwelling_area_source": "calibrated" if fitted else "default",
        "formula": (
            f"{row['footprint_m2']:.1f} m² × {row['levels']:g} × {use.share:g} ÷ {area:.1f} m²"
            f" = {estimate}"
        ),
        "estimate": estimate,
        "households": int(held["households"]),
        "households_source": held["households_source"],
        "calibration": {"applied": calibration.applied, "reason": calibration.reason},
        "warnings": mine[["warning_id", "kind", "detail", "dismissed"]].to_dict("records"),
    }


def _estimate_and_check(
    store: Store,
    buildings: gpd.GeoDataFrame,
    *,
    settings: EstimateSettings | None,
    calibrate: bool,
) -> tuple[gpd.GeoDataFrame, Calibration, gpd.GeoDataFrame]:
    """Estimate the uncounted buildings (calibrated if it helps) and check every figure."""
    result = estimate_households(
        buildings, metric_crs=store.metric_crs, settings=settings, only_missing=True
    )
    if calibrate:
        calibration = fit_calibration(result, settings=settings)
    else:
        calibration = Calibration(False, "calibration turned off")
    if calibration.applied:
        result = estimate_households(
            buildings,
            metric_crs=store.metric_crs,
            settings=settings,
            only_missing=True,
            dwelling_areas=calibration.dwelling_areas,
        )
    warnings = check_households(
        result, settings=settings, previous=store.read("household_warnings")
    )
    return result, calibration, warnings


def _households_report(
    buildings: gpd.GeoDataFrame, calibration: Calibration, warnings: pd.DataFrame
) -> dict[str, Any]:
    """The evidence, calibration and warnings part of a households report."""
    columns = ["warning_id", "kind", "building_id", "name", "households", "households_source"]
    listed = warnings[[*columns, "detail", "dismissed"]].astype(object)
    return {
        "evidence": {
            "likely_use": {
                str(k): int(v) for k, v in buildings["likely_use"].value_counts().items()
            },
            "confidence": {
                str(k): int(v) for k, v in buildings["share_confidence"].value_counts().items()
            },
        },
        "calibration": calibration.to_json(),
        "warnings": {
            **warning_counts(warnings),
            "rows": listed.where(listed.notna(), None).to_dict("records"),
        },
    }


def write_buildings(
    store: Store,
    buildings: gpd.GeoDataFrame,
    *,
    log: list[dict[str, Any]],
    also: dict[str, pd.DataFrame] | None = None,
    metadata: dict[str, Any] | None = None,
) -> None:
    """Write new household figures; with a plan, its figures follow in the same write.

    The grids' households, 四维测评 figures and staffing, the zones' households and the
    edge areas' counts are recomputed by the plan's commit path, so they never
    disagree with the buildings.
    """
    grids = store.read("grids")
    if grids.empty:
        store.write_many({"buildings": buildings, **(also or {})}, log=log, metadata=metadata)
        return
    commit_plan(store, grids, buildings=buildings, also=also, log=log, metadata=metadata)


def demo_area(area: str) -> tuple[Path, Path | None, str, str]:
    """The OSM file, roster, name and code of a demo area, checking they exist."""
    if area not in config.DEMO_AREAS:
        msg = f"unknown demo area {area!r}; choose from {', '.join(config.DEMO_AREAS)}"
        raise PlannerError(msg)
    osm_name, roster_name, name, code = config.DEMO_AREAS[area]
    osm = config.DATA_DIR / "osm" / osm_name
    if not osm.exists():
        where = "PLANNER_DATA" if os.environ.get("PLANNER_DATA") else "the default folder"
        msg = (
            f"demo data not found: {where} {config.DATA_DIR} has no osm/{osm_name}; set "
            "PLANNER_DATA to the shared data folder (the one holding osm/ and rosters/)"
        )
        raise PlannerError(msg)
    roster = config.DATA_DIR / "rosters" / roster_name if roster_name else None
    return osm, roster, name, code


class AnalysisStep(NamedTuple):
    """One analysis step: a label for people and the function that runs it.

    The function takes a :class:`Store` (and keyword ``progress``) and returns a
    JSON-able report; it reads its inputs from the store and writes its layers
    back. Its name is the step's id (the web app's ``POST /api/analysis/<id>``).
    """

    label: str
    run: Callable[..., dict[str, Any]]


#: Analysis the demo runs after the import, in order.
DEMO_ANALYSIS: list[AnalysisStep] = [
    AnalysisStep("grids", make_grids_step),
    AnalysisStep("topology check and edge areas", check_and_fix),
    AnalysisStep("walking coverage and station sites", run_coverage_and_sites),
]

#: Analyses the map page offers beside :data:`DEMO_ANALYSIS`, each run on its own (neither
#: the demo nor the page's "all" runs them): rebalancing redraws a plan someone made.
PAGE_ANALYSIS: list[AnalysisStep] = [
    AnalysisStep("rebalance", rebalance_step),
]


#: Steps of :func:`run_demo`, in order (for progress bars).
DEMO_STEPS = (
    "read OSM",
    "classify buildings and estimate households",
    "write store",
    "join roster",
    *(label for label, _ in DEMO_ANALYSIS),
)


def run_analysis(store: Store, *, progress: Progress = no_progress) -> dict[str, Any]:
    """Run every step of :data:`DEMO_ANALYSIS` on ``store``; return their reports by label."""
    reports = {}
    for label, run in DEMO_ANALYSIS:
        progress(label)
        try:
            reports[label] = run(store, progress=no_progress)
        except PlannerError as exc:
            # A step the data cannot support (no buildings in a roads-only extract) is
            # skipped with its reason; the steps after it decide for themselves.
            reports[label] = {"skipped": exc.message}
    return reports


def run_demo(
    area: str = config.DEFAULT_AREA,
    *,
    store_path: str | Path | None = None,
    progress: Progress = no_progress,
) -> tuple[Store, dict[str, Any]]:
    """Build a demo store from the shared OSM extract (and roster) of ``area``.

    The store is built beside the target and moved into place at the end, so a
    failed run leaves an earlier demo store as it was. A ``postgresql://`` target gets
    the finished store copied in (replacing a store there).
    """
    osm, roster, name, code = demo_area(area)
    target = store_location(store_path) if store_path else config.demo_store_path(area)
    database = is_database_url(target)
    if database:
        folder = Path(tempfile.mkdtemp(prefix="planner-demo-"))
        building = folder / f"{target.stem}.gpkg"
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        building = target.with_name(f".{target.stem}.building.gpkg")
    building.unlink(missing_ok=True)
    try:
        store, report = import_osm(osm, building, name=name, code=code, progress=progress)
        progress("join roster")
        if roster is not None:
            report["roster"] = apply_roster(store, roster)
        report["analysis"] = run_analysis(store, progress=progress)
        # The demo area's sample staff roster (names and phones made up), once grids exist.
        staff = config.ROOT / "layers" / f"{area}_staff.csv"
        if staff.exists() and store.count("grids"):
            from planner.staff import import_staff

            report["staff"] = import_staff(store, staff)
        report["warnings"] = report.get("warnings", []) + [
            f"{label} skipped: {step['skipped']}"
            for label, step in report["analysis"].items()
            if "skipped" in step
        ]
        if database:
            copy_store(building, target, overwrite=True)
        else:
            building.replace(target)
    finally:
        building.unlink(missing_ok=True)
        building.with_name(building.name + ".lock").unlink(missing_ok=True)
        if database:
            shutil.rmtree(building.parent, ignore_errors=True)
    store = Store(target)
    report["store"] = str(target)
    return store, report
