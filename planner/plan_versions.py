"""Versions of the grid plan (网格方案版本): list, show, compare, publish and roll back.

Every write of a plan layer (:data:`planner.schema.PLAN_LAYERS`: grids, zones, edge
areas) makes a new plan version; the store keeps each version whole in
``plan_history`` with a row in ``plan_versions`` (who, when, why). A version can be
published (the official plan), compared with another and rolled back to: a rollback
is a new version equal to the old one, so nothing is ever lost.

An analysis may also *propose* a plan without writing it (:class:`PlanProposal`, e.g.
:func:`planner.grids.propose_grids`): an unsaved version with its figures
(:func:`proposal_figures`), committed later by :func:`commit_proposal` through the one
commit path, and refused if the plan changed since the analysis read it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planner import schema
from planner.communities import choose_community, community_of
from planner.crs import STORAGE_CRS
from planner.errors import ConflictError, InputError, MissingDataError
from planner.geometry import in_range
from planner.plan_commit import commit_plan, current_rows, zones_from_grids
from planner.settings import settings
from planner.store import Store

__all__ = [
    "PlanProposal",
    "commit_proposal",
    "community_scope",
    "compare_grids",
    "current_version",
    "diff_versions",
    "list_versions",
    "of_community",
    "plan_at",
    "proposal_figures",
    "publish_version",
    "published_version",
    "rollback_to",
]

#: Area (m²) below which two shapes of one grid count as the same (rounding).
SAME_SHAPE_M2 = 1.0


def current_version(store: Store) -> int:
    """The plan version now in the store (0 before the first versioned write)."""
    return int(store.metadata.get("plan_version", 0))


def _scope(store: Store, community: str | None) -> tuple[str | None, pd.DataFrame]:
    """The code of the community asked for, or None where the call is not scoped.

    None when ``community`` is None (the whole plan, as in a store of one community)
    or when the store holds one community only (its plan is the whole plan): an
    unknown code or name is refused all the same.

    Raises
    ------
    InputError
        (param ``community``) when ``community`` is not one of the store's.
    """
    communities = store.read("community")
    if community is None:
        return None, communities
    k = choose_community(communities, community)
    if len(communities) == 1:
        return None, communities
    return str(communities["community_code"].iloc[k]), communities


def community_scope(store: Store, community: str | None) -> str | None:
    """The code of the community a call is scoped to: None for the whole plan (no
    ``community``, or a store of one community).

    Raises
    ------
    InputError
        (param ``community``) when ``community`` is not one of the store's.
    """
    return _scope(store, community)[0]


def of_community(store: Store, grids: pd.DataFrame, community: str | None) -> np.ndarray:
    """True for the ``grids`` (any rows with ``grid_code``) of ``community``; all True
    when the call is not scoped (see :func:`community_scope`)."""
    code, communities = _scope(store, community)
    if code is None:
        return np.ones(len(grids), dtype=bool)
    return _mine(grids, "grid_code", code, communities)


def _mine(frame: pd.DataFrame, column: str, code: str, communities: pd.DataFrame) -> np.ndarray:
    """True for the rows of ``frame`` whose ``column`` (a grid or zone code) is ``code``'s."""
    if frame.empty:
        return np.zeros(0, dtype=bool)
    return community_of(frame[column].astype(str), communities) == code


def published_version(store: Store, *, community: str | None = None) -> int | None:
    """The published plan version: the store's, or the one last published for ``community``.

    A publish scoped to one community (:func:`publish_version`) marks that community's
    grids of a version as official and leaves the others' as they were; a publish of
    the whole plan marks every community's.
    """
    code, _ = _scope(store, community)
    by_community = store.metadata.get("published_by_community") or {}
    if code is not None and code in by_community:
        return int(by_community[code])
    published = store.metadata.get("published_plan")
    return None if published is None else int(published)


def list_versions(store: Store, *, community: str | None = None) -> pd.DataFrame:
    """Every plan version, oldest first, with ``published`` and ``current`` flags.

    Parameters
    ----------
    store
        The store.
    community
        One community (code or name) of a store holding several: only the versions
        that changed its grids, with ``grids`` and ``households`` counting its grids
        alone; ``current`` marks the version its grids are now as, ``published`` the
        one they were published as (:func:`published_version`). None: every version
        of the whole plan, as in a store of one community.

    Returns
    -------
    pandas.DataFrame
        ``plan_version``, ``time``, ``user``, ``reason``, ``grids``, ``households``,
        ``replaced``, ``deleted``, ``published``, ``current``; scoped to a community
        also ``community_code``.
    """
    code, communities = _scope(store, community)
    versions = store.read("plan_versions").sort_values("plan_version").reset_index(drop=True)
    # A version written by no named user has no value: None (JSON null, "-" in the CLI),
    # not NaN, which would print as "nan" and is not JSON.
    for column in ("user", "reason"):
        versions[column] = versions[column].astype(object).where(versions[column].notna(), None)
    if code is None:
        published = store.metadata.get("published_plan")
        versions["published"] = versions["plan_version"] == published
        versions["current"] = versions["plan_version"] == current_version(store)
        return versions
    figures = _community_states(store, versions, code, communities)
    versions = versions.merge(figures, on="plan_version", suffixes=("_all", ""))
    versions = versions[versions["changed"]].drop(columns=["changed", "grids_all"])
    versions = versions.drop(columns="households_all").reset_index(drop=True)
    versions["community_code"] = code
    numbers = versions["plan_version"].to_numpy()
    versions["current"] = _state_at(numbers, current_version(store))
    versions["published"] = _state_at(numbers, published_version(store, community=code))
    return versions


def _state_at(numbers: np.ndarray, version: int | None) -> np.ndarray:
    """True on the last of ``numbers`` (sorted) at or before ``version``: the listed
    version whose state the plan had at ``version``."""
    out = np.zeros(len(numbers), dtype=bool)
    if version is None:
        return out
    earlier = np.flatnonzero(numbers <= version)
    if len(earlier):
        out[earlier[-1]] = True
    return out


def _community_states(
    store: Store, versions: pd.DataFrame, code: str, communities: pd.DataFrame
) -> pd.DataFrame:
    """Per plan version: the community's grids and households, and whether they changed.

    The grids' history is replayed once, oldest first: each version's grids of the
    community are compared with the version before, field by field and shape by shape
    (to :data:`SAME_VERTEX_DEG`: a layer written whole again may move vertices by a
    rounding error).
    """
    history = store.read("plan_history", where="layer = 'grids'")
    geoms = history.geometry.to_numpy()
    props = [json.loads(p) for p in history["properties"].astype(str)]
    at = history["plan_version"].astype(int).to_numpy()
    state: dict[str, int] = {}  # grid code → its row in the history
    before: dict[str, int] = {}
    rows = []
    for row in versions.itertuples():
        version = int(row.plan_version)
        if "grids" in str(row.replaced or "").split(","):
            state = {}
        for name in json.loads(row.deleted or "{}").get("grids", []):
            state.pop(str(name), None)
        for i in np.flatnonzero(at == version):
            state[str(props[i].get("grid_code"))] = int(i)
        codes = list(state)
        owned = community_of(pd.Series(codes, dtype=object), communities) == code
        now = {c: state[c] for c, keep in zip(codes, owned, strict=True) if keep}
        # The current plan's grids only: a scenario's proposed grids are not the plan.
        current = [i for i in now.values() if not str(props[i].get("scenario") or "").strip()]
        households = pd.to_numeric(
            pd.Series([props[i].get("households") for i in current], dtype=object),
            errors="coerce",
        )
        rows.append(
            {
                "plan_version": version,
                "grids": len(current),
                "households": int(households.fillna(0).sum()),
                "changed": _differ(before, now, props, geoms),
            }
        )
        before = now
    return pd.DataFrame(rows, columns=["plan_version", "grids", "households", "changed"])


#: Degrees by which a vertex may move and the shape count as the same (about 0.1 mm).
SAME_VERTEX_DEG = 1e-9


def _differ(
    before: dict[str, int], now: dict[str, int], props: list[dict[str, Any]], geoms: np.ndarray
) -> bool:
    """Whether two states of a community's grids (code → history row) differ."""
    if before.keys() != now.keys():
        return True
    moved = [c for c in now if before[c] != now[c]]
    if any(props[before[c]] != props[now[c]] for c in moved):
        return True
    a = np.array([geoms[before[c]] for c in moved], dtype=object)
    b = np.array([geoms[now[c]] for c in moved], dtype=object)
    return bool(len(moved)) and not shapely.equals_exact(a, b, tolerance=SAME_VERTEX_DEG).all()


def _check_version(store: Store, version: int) -> int:
    known = set(store.read("plan_versions")["plan_version"].astype(int))
    if not known:
        msg = "the store has no plan versions yet; they begin with the next grid write"
        raise MissingDataError(msg, source=str(store.path))
    if int(version) not in known:
        msg = f"no plan version {version}; the store has {min(known)} to {max(known)}"
        raise InputError(msg, source=str(store.path), param="version")
    return int(version)


def plan_at(
    store: Store, version: int, *, community: str | None = None
) -> dict[str, gpd.GeoDataFrame]:
    """The plan layers (grids, zones, edge areas) as they were at ``version``.

    Each layer is rebuilt from the last version up to ``version`` that wrote it whole,
    with the row edits and deletions of the versions after it replayed in order.
    ``community`` (code or name) of a store holding several keeps its grids, zones and
    the edge areas assigned to its grids only; None keeps the whole plan.
    """
    version = _check_version(store, version)
    code, communities = _scope(store, community)
    plan = _plan_at(store, version)
    if code is None:
        return plan
    columns = {"grids": "grid_code", "zones": "zone_code", "edge_areas": "grid_code"}
    return {
        layer: frame[_mine(frame, columns[layer], code, communities)].reset_index(drop=True)
        for layer, frame in plan.items()
    }


def _plan_at(store: Store, version: int) -> dict[str, gpd.GeoDataFrame]:
    """The whole plan at ``version`` (a version the store has)."""
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
    a = plan_at(store, old, community=community)["grids"]
    b = plan_at(store, new, community=community)["grids"]
    return {"old": int(old), "new": int(new), **compare_grids(a, b, store.metric_crs)}


def compare_grids(a: gpd.GeoDataFrame, b: gpd.GeoDataFrame, metric_crs: Any) -> dict[str, Any]:
    """Compare two plans' grids (``grid_code``, ``households``, geometry; any CRS).

    Returns
    -------
    dict
        As :func:`diff_versions` without ``old`` and ``new``: ``added``, ``removed``,
        ``kept``, ``reshaped``, ``households_changed``, ``households_moved``.
    """
    a = a.set_index(a["grid_code"].astype(str))
    b = b.set_index(b["grid_code"].astype(str))
    kept = a.index.intersection(b.index)
    moved_area = (
        a.loc[kept]
        .geometry.to_crs(metric_crs)
        .symmetric_difference(b.loc[kept].geometry.to_crs(metric_crs))
    ).area
    both = a.index.union(b.index)
    hh_a = pd.to_numeric(a["households"]).fillna(0).reindex(both, fill_value=0)
    hh_b = pd.to_numeric(b["households"]).fillna(0).reindex(both, fill_value=0)
    delta = hh_b - hh_a
    changed = delta[delta != 0]
    return {
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


@dataclass
class PlanProposal:
    """A new plan an analysis computed without writing it: an unsaved version.

    Attributes
    ----------
    analysis
        What made it (an analysis step's label), for the change log.
    store
        The store object that read the plan's inputs: the commit is refused if any of
        them changed since (:class:`~planner.errors.ConflictError`).
    base_version
        The plan version it was computed from.
    grids
        The whole new ``grids`` layer, as :func:`~planner.plan_commit.commit_plan` takes it.
    commit
        The other arguments of :func:`~planner.plan_commit.commit_plan` (``buildings``,
        ``blocks``, ``zones``, ``edge_areas``, ``also``, ``reassess``).
    log
        The change-log entries of the analysis.
    report
        The analysis's JSON report.
    """

    analysis: str
    store: Store
    base_version: int
    grids: gpd.GeoDataFrame
    commit: dict[str, Any] = field(default_factory=dict)
    log: list[dict[str, Any]] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)


def proposal_figures(proposal: PlanProposal) -> dict[str, Any]:
    """The figures of a proposed plan, to decide on it before it is saved.

    Returns
    -------
    dict
        ``base_version``; ``grids``, ``in_range`` and ``out_of_range`` (grids by
        households within the range ``min``–``max``), ``households``; ``findings``
        (count per kind of :func:`planner.topology.check_plan` on the proposed plan, and
        their total ``findings_total``); against the current plan, ``grids_added``,
        ``grids_removed``, ``grids_reshaped``, ``grids_kept`` and ``households_moved``.
    """
    # Imported here: planner.topology imports planner.grids, which imports this module.
    from planner.topology import check_plan, load_plan
    from planner.topology.plan import GridPlan

    store = proposal.store
    metric = store.metric_crs
    grids = proposal.grids[current_rows(proposal.grids)].to_crs(metric).reset_index(drop=True)
    hh = pd.to_numeric(grids["households"]).fillna(0).to_numpy()
    low, high = settings.grid.min_households, settings.grid.max_households
    ok = in_range(hh, low, high)
    buildings = proposal.commit.get("buildings")
    edges = proposal.commit.get("edge_areas")
    before = store.read("grids")
    before = before[current_rows(before)] if len(before) else before
    if len(before):
        plan = load_plan(store)
    else:
        community = store.read_metric("community").geometry.to_numpy()
        plan = GridPlan(
            grids=grids,
            community=shapely.make_valid(shapely.union_all(community)) if len(community) else None,
            buildings=store.read_metric("buildings"),
            edge_areas=store.read_metric("edge_areas"),
            features=np.empty(0, dtype=object),
            crs=metric,
        )
    plan = replace(
        plan,
        grids=grids,
        buildings=plan.buildings if buildings is None else buildings.to_crs(metric),
        edge_areas=plan.edge_areas if edges is None else edges.to_crs(metric),
    )
    findings = check_plan(plan).counts()
    empty = gpd.GeoDataFrame({"grid_code": [], "households": []}, geometry=[], crs=metric)
    changed = compare_grids(before if len(before) else empty, grids, metric)
    return {
        "base_version": int(proposal.base_version),
        "grids": int(len(grids)),
        "in_range": int(ok.sum()),
        "out_of_range": int((~ok).sum()),
        "min": int(low),
        "max": int(high),
        "households": int(hh.sum()),
        "findings": findings,
        "findings_total": int(sum(findings.values())),
        "grids_added": len(changed["added"]),
        "grids_removed": len(changed["removed"]),
        "grids_reshaped": len(changed["reshaped"]),
        "grids_kept": int(changed["kept"]),
        "households_moved": changed["households_moved"],
    }


def commit_proposal(proposal: PlanProposal, *, user: str | None = None) -> dict[str, Any]:
    """Save a proposed plan as a new plan version, through the one commit path.

    The change log says which analysis made it and from which version.

    Returns
    -------
    dict
        :func:`~planner.plan_commit.commit_plan`'s report (``plan_version``...) and
        ``unchanged``: the proposal was the plan as it is, so no version was made.

    Raises
    ------
    ConflictError
        If the plan changed since the analysis read it (``version``: the current one),
        or any layer it read did; nothing is written.
    """
    now = current_version(Store(proposal.store.path))
    if now != proposal.base_version:
        msg = (
            f"the plan changed since the analysis read it (version {proposal.base_version}, "
            f"now {now}); run the analysis again"
        )
        raise ConflictError(msg, source=str(proposal.store.path), layers=["grids"], version=now)
    entry = {
        "layer": "grids",
        "action": "accept analysis",
        "detail": {"analysis": proposal.analysis, "base_version": proposal.base_version},
        "reason": f"接受分析结果「{proposal.analysis}」（基于方案版本 {proposal.base_version}）",
        "user": user,
    }
    log = [entry, *({**e, "user": user} for e in proposal.log)]
    try:
        report = commit_plan(proposal.store, proposal.grids, log=log, **proposal.commit)
    except ConflictError as exc:
        exc.version = current_version(Store(proposal.store.path))
        raise
    # A proposal equal to the plan changes no row: no version is made.
    report["unchanged"] = report["plan_version"] == proposal.base_version
    return report


def publish_version(
    store: Store, version: int, *, user: str | None = None, community: str | None = None
) -> dict[str, Any]:
    """Mark ``version`` as the published (official) plan; the plan itself is unchanged.

    ``community`` (code or name) of a store holding several publishes that community's
    grids of ``version`` alone (the others keep the version they were published as);
    the change log and the answer name the community. None publishes the whole plan.

    Returns
    -------
    dict
        ``published`` (the version); scoped to a community, its ``community_code``.
    """
    version = _check_version(store, version)
    code, _ = _scope(store, community)
    if code is None:
        # The whole plan: every community is now published as this version.
        metadata = {"published_plan": version, "published_by_community": {}}
    else:
        by_community = dict(store.metadata.get("published_by_community") or {})
        metadata = {"published_by_community": {**by_community, code: version}}
    where = f" of community {code}" if code else ""
    store.write_many(
        {},
        metadata=metadata,
        log=[
            {
                "layer": "grids",
                "action": "publish",
                "detail": {"plan_version": version, "community_code": code},
                "reason": f"publish plan version {version}{where}",
                "user": user,
            }
        ],
    )
    return {"published": version} | ({"community_code": code} if code else {})


def rollback_to(
    store: Store, version: int, *, user: str | None = None, community: str | None = None
) -> dict[str, Any]:
    """Make a new plan version equal to ``version`` (every dependent follows, as in
    :func:`planner.plan_commit.commit_plan`).

    ``community`` (code or name) of a store holding several restores that community's
    grids and zones as they were at ``version`` and leaves the other communities' as
    they are now. None restores the whole plan.

    Returns
    -------
    dict
        ``rolled_back_to`` and ``plan_version`` (the new one); scoped to a community,
        its ``community_code``.
    """
    version = _check_version(store, version)
    code, communities = _scope(store, community)
    plan = plan_at(store, version)
    grids, zones, edge_areas = plan["grids"], plan.get("zones"), plan.get("edge_areas")
    if code is not None:
        now = store.read("grids")
        grids = pd.concat(
            [
                now[~_mine(now, "grid_code", code, communities)],
                grids[_mine(grids, "grid_code", code, communities)],
            ],
            ignore_index=True,
        )
        grids = gpd.GeoDataFrame(grids, geometry="geometry", crs=now.crs)
        # The others' zones stay as stored; this community's follow its restored grids
        # (named as they were at the version).
        stored = store.read("zones")
        restored = zones_from_grids(
            grids[_mine(grids, "grid_code", code, communities)], zones.to_crs(now.crs)
        )
        zones = pd.concat(
            [stored[~_mine(stored, "zone_code", code, communities)], restored.to_crs(stored.crs)],
            ignore_index=True,
        )
        zones = gpd.GeoDataFrame(zones, geometry="geometry", crs=stored.crs)
        # Edge areas stay as stored; automatic assignments follow the restored grids.
        edge_areas = None
    where = f" of community {code}" if code else ""
    # The plan as it was; buildings, blocks and figures follow it as the data is now.
    commit_plan(
        store,
        grids,
        zones=zones,
        edge_areas=edge_areas,
        log=[
            {
                "layer": "grids",
                "action": "rollback",
                "detail": {"to_version": version, "community_code": code},
                "reason": f"rollback to plan version {version}{where}",
                "user": user,
            }
        ],
    )
    report = {"rolled_back_to": version, "plan_version": current_version(store)}
    return report | ({"community_code": code} if code else {})
