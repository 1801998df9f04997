"""Versions of the grid plan (网格方案版本): list, show, compare, publish and roll back.

Every write of a plan layer (:data:`planner.schema.PLAN_LAYERS`: grids, zones, edge
areas) makes a new plan version; the store keeps each version whole in
``plan_history`` with a row in ``plan_versions`` (who, when, why). A version can be
published (the official plan), compared with another and rolled back to: a rollback
is a new version equal to the old one, so nothing is ever lost.
"""

from __future__ import annotations

import json
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from planner import schema
from planner.communities import choose_community, community_of
from planner.crs import STORAGE_CRS
from planner.errors import InputError, MissingDataError
from planner.plan_commit import commit_plan
from planner.store import Store

__all__ = [
    "current_version",
    "diff_versions",
    "list_versions",
    "plan_at",
    "publish_version",
    "rollback_to",
]

#: Area (m²) below which two shapes of one grid count as the same (rounding).
SAME_SHAPE_M2 = 1.0


def current_version(store: Store) -> int:
    """The plan version now in the store (0 before the first versioned write)."""
    return int(store.metadata.get("plan_version", 0))


def list_versions(store: Store) -> pd.DataFrame:
    """Every plan version, oldest first, with ``published`` and ``current`` flags."""
    versions = store.read("plan_versions").sort_values("plan_version").reset_index(drop=True)
    published = store.metadata.get("published_plan")
    versions["published"] = versions["plan_version"] == published
    versions["current"] = versions["plan_version"] == current_version(store)
    # A version written by no named user has no value: None (JSON null, "-" in the CLI),
    # not NaN, which would print as "nan" and is not JSON.
    for column in ("user", "reason"):
        versions[column] = versions[column].astype(object).where(versions[column].notna(), None)
    return versions


def _check_version(store: Store, version: int) -> int:
    known = set(store.read("plan_versions")["plan_version"].astype(int))
    if not known:
        msg = "the store has no plan versions yet; they begin with the next grid write"
        raise MissingDataError(msg, source=str(store.path))
    if int(version) not in known:
        msg = f"no plan version {version}; the store has {min(known)} to {max(known)}"
        raise InputError(msg, source=str(store.path), param="version")
    return int(version)


def plan_at(store: Store, version: int) -> dict[str, gpd.GeoDataFrame]:
    """The plan layers (grids, zones, edge areas) as they were at ``version``.

    Each layer is rebuilt from the last version up to ``version`` that wrote it whole,
    with the row edits and deletions of the versions after it replayed in order.
    """
    version = _check_version(store, version)
    versions = store.read("plan_versions", where=f"plan_version <= {version}")
    versions = versions.sort_values("plan_version")
    plan = {}
    for layer in schema.PLAN_LAYERS:
        key = schema.get_layer(layer).key
        replaced = versions["replaced"].fillna("").str.split(",")
        whole = versions[[layer in names for names in replaced]]
        base = int(whole["plan_version"].max()) if len(whole) else 0
        rows = store.read(
            "plan_history",
            where=f"layer = '{layer}' AND plan_version >= {base} AND plan_version <= {version}",
        )
        frame = _features(rows[rows["plan_version"] == base], layer)
        for row in versions[versions["plan_version"] > base].itertuples():
            gone = set(json.loads(row.deleted or "{}").get(layer, []))
            edits = _features(rows[rows["plan_version"] == row.plan_version], layer)
            gone |= set(edits[key].astype(str))
            frame = frame[~frame[key].astype(str).isin(gone)]
            frame = pd.concat([frame, edits], ignore_index=True)
        plan[layer] = schema.conform(layer, gpd.GeoDataFrame(frame, crs=STORAGE_CRS))
    return plan


def _features(rows: gpd.GeoDataFrame, layer: str) -> gpd.GeoDataFrame:
    """History rows back as features of ``layer``."""
    props = pd.DataFrame([json.loads(p) for p in rows["properties"]], index=rows.index)
    frame = gpd.GeoDataFrame(props, geometry=rows.geometry.to_numpy(), crs=STORAGE_CRS)
    return schema.conform(layer, frame.reset_index(drop=True))


def diff_versions(
    store: Store, old: int, new: int, *, community: str | None = None
) -> dict[str, Any]:
    """Compare the grids of two versions.

    Parameters
    ----------
    store
        The store.
    old, new
        The versions.
    community
        Compare only the grids of this community (code or name) of a store holding
        several; None compares every grid.

    Returns
    -------
    dict
        ``old``, ``new``, the grid codes ``added``, ``removed``, ``kept`` (count),
        ``reshaped`` (kept codes whose boundary moved), ``households_changed``
        (code, old, new) and ``households_moved`` (half the sum of the changes: the
        households that changed grid when every grid's total is kept in balance).
    """
    a = plan_at(store, old)["grids"].set_index("grid_code")
    b = plan_at(store, new)["grids"].set_index("grid_code")
    if community is not None:
        a, b = _of_community(store, community, a), _of_community(store, community, b)
    kept = a.index.intersection(b.index)
    metric = store.metric_crs
    moved_area = (
        a.loc[kept]
        .geometry.to_crs(metric)
        .symmetric_difference(b.loc[kept].geometry.to_crs(metric))
    ).area
    hh_a = a["households"].reindex(a.index.union(b.index), fill_value=0)
    hh_b = b["households"].reindex(a.index.union(b.index), fill_value=0)
    delta = hh_b - hh_a
    changed = delta[delta != 0]
    return {
        "old": int(old),
        "new": int(new),
        "added": sorted(b.index.difference(a.index)),
        "removed": sorted(a.index.difference(b.index)),
        "kept": len(kept),
        "reshaped": sorted(moved_area[moved_area > SAME_SHAPE_M2].index),
        "households_changed": [
            {"grid_code": code, "old": int(hh_a[code]), "new": int(hh_b[code])}
            for code in changed.index
        ],
        "households_moved": int(np.abs(delta).sum() // 2),
    }


def _of_community(store: Store, community: str, grids: pd.DataFrame) -> pd.DataFrame:
    """The grids (indexed by code) of one community of the store."""
    communities = store.read("community")
    k = choose_community(communities, community)
    if len(communities) == 1:
        return grids
    code = str(communities["community_code"].iloc[k])
    return grids[community_of(pd.Series(grids.index), communities) == code]


def publish_version(store: Store, version: int, *, user: str | None = None) -> dict[str, Any]:
    """Mark ``version`` as the published (official) plan; the plan itself is unchanged."""
    version = _check_version(store, version)
    store.write_many(
        {},
        metadata={"published_plan": version},
        log=[
            {
                "layer": "grids",
                "action": "publish",
                "detail": {"plan_version": version},
                "reason": f"publish plan version {version}",
                "user": user,
            }
        ],
    )
    return {"published": version}


def rollback_to(store: Store, version: int, *, user: str | None = None) -> dict[str, Any]:
    """Make a new plan version equal to ``version`` (every dependent follows, as in
    :func:`planner.plan_commit.commit_plan`)."""
    version = _check_version(store, version)
    plan = plan_at(store, version)
    # The plan as it was; buildings, blocks and figures follow it as the data is now.
    commit_plan(
        store,
        plan["grids"],
        zones=plan.get("zones"),
        edge_areas=plan.get("edge_areas"),
        log=[
            {
                "layer": "grids",
                "action": "rollback",
                "detail": {"to_version": version},
                "reason": f"rollback to plan version {version}",
                "user": user,
            }
        ],
    )
    return {"rolled_back_to": version, "plan_version": current_version(store)}
