"""A planner's walk through the grid editor: five grids broken, mended on the page only.

:func:`break_plan` breaks the demo's generated plan through the engine, as edits saved
as plan versions: one grid pushed above the household range and another below it by
moving blocks, a gap (a grid's outline drawn back off one of its blocks) and a building
cut (a neighbour's outline drawn through it). :func:`overlap_by_hand` then drags a
grid's vertex into its neighbour on the page (Geoman, "take the neighbours' land"
unticked) and saves: the fifth break, an overlap.

:func:`mend` is the planner: it opens the editor, reads the rules panel's findings,
clicks the first one to zoom to it and mends it — with the line's one-click fix where
it offers one ("放入 A（n 户）", the choice keeping the grids in range), else with the
page's tools (paint a block into a grid, merge) — then saves and goes on editing the
saved version (the editor stays open), until the panel lists no problem. Each choice is made
from what the page shows: the findings list (kind, grids, where), the touched grids'
households in the panel, and the grids and blocks drawn on the map (as the map's own
layer API serves them to the page). Every live update is timed in the browser
(``document.body.dataset.previewMs``, set by the editor when a preview has arrived).

Used by ``benchmarks/walkthrough.py`` (prints the step table) and
``tests/test_walkthrough_browser.py`` (asserts the end state through the API).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry import shape

from planner.plan_commit import current_rows
from planner.plan_edit import PlanEditor
from planner.reasons import Reason
from planner.settings import settings
from planner.store import Store
from tests.test_webmap_browser import Page, _click_at, drag_vertex_towards

__all__ = [
    "Breaks",
    "Step",
    "Walk",
    "break_plan",
    "end_state",
    "flag_is_true",
    "mend",
    "overlap_by_hand",
    "step_table",
]

LO, HI = settings.grid.min_households, settings.grid.max_households
#: Findings mended first: the shape of the plan before its figures.
ORDER = (
    "overlaps",
    "split_buildings",
    "gaps",
    "slivers",
    "multipart",
    "unassigned_buildings",
    "unassigned_edge_areas",
    "outside_community",
    "households_out_of_range",
)
#: About 1 m in degrees at the demo's latitude: "shares a boundary" for lon/lat outlines.
TOUCH_DEG = 1e-5


@dataclass
class Breaks:
    """What :func:`break_plan` broke (codes, ids) and the plan version it saved."""

    over: str = ""
    under: str = ""
    gap: str = ""
    gap_block: str = ""
    cut_grid: str = ""
    cut_building: str = ""
    overlap: str = ""
    overlap_neighbour: str = ""
    used: set[str] = field(default_factory=set)
    version: int = 0


@dataclass
class Step:
    """One thing the planner did, what the page showed after it, and the live update."""

    n: int
    action: str
    shown: str
    ms: int | None = None
    kind: str = "edit"
    #: A save's: from the click to the editor ready on the saved version (its check shown).
    ready_ms: int | None = None


@dataclass
class Walk:
    """The steps of a walk, its screenshots and what it could not mend."""

    page: Page
    out: Path
    steps: list[Step] = field(default_factory=list)
    unmended: list[str] = field(default_factory=list)
    shots: list[Path] = field(default_factory=list)

    def log(self, action: str, shown: str, ms: int | None = None, kind: str = "edit") -> Step:
        step = Step(len(self.steps) + 1, action, shown, ms, kind)
        self.steps.append(step)
        return step

    def shot(self, name: str) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        path = self.out / f"{len(self.steps):02d}_{name}.png"
        self.page.page.screenshot(path=str(path))
        self.shots.append(path)


# -- breaking the plan (engine, before the page opens) -----------------------------


def _single(geom: shapely.Geometry) -> bool:
    return geom.geom_type == "Polygon" and not geom.is_empty


def _shared(a: shapely.Geometry, b: shapely.Geometry) -> float:
    """Length (degrees) of boundary ``a`` shares with ``b``."""
    return shapely.intersection(a.boundary, b.boundary.buffer(TOUCH_DEG / 5)).length


def _frames(store: Store) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    grids = store.read("grids")
    grids = grids[current_rows(grids)].set_index("grid_code", drop=False)
    blocks = store.read("blocks")
    blocks = blocks.set_index(blocks["block_id"].astype(str), drop=False)
    return grids, blocks, store.read("buildings")


def _eligible(grids: gpd.GeoDataFrame, used: set[str]) -> list[str]:
    """Grids in range, unlocked, unflagged and not used by another break."""
    flag = grids["flag"].fillna("").astype(str).str.strip() != ""
    ok = grids["households"].between(LO, HI) & ~grids["locked"].fillna(False).astype(bool) & ~flag
    return [c for c in grids.index[ok] if c not in used]


def _neighbours(grids: gpd.GeoDataFrame, code: str) -> list[str]:
    geom = grids.geometry[code]
    near = grids.index[grids.geometry.intersects(geom.buffer(TOUCH_DEG))]
    return [c for c in near if c != code and _shared(grids.geometry[c], geom) > 5 * TOUCH_DEG]


def _border(blocks: gpd.GeoDataFrame, grids: gpd.GeoDataFrame, owner: str, other: str):
    """Blocks of ``owner`` sharing boundary with grid ``other``, with households > 0."""
    mine = blocks[(blocks["grid_code"] == owner) & (blocks["households"].fillna(0) > 0)]
    geom = grids.geometry[other]
    return [
        b for b, g in zip(mine.index, mine.geometry, strict=True) if _shared(g, geom) > TOUCH_DEG
    ]


def _push_out(grids, blocks, used: set[str], *, above: bool) -> tuple[str, str, str] | None:
    """(grid pushed out, neighbour, block moved): ``above`` takes a neighbour's block so
    the grid has more than the maximum; otherwise gives one so it has fewer than the
    minimum. The neighbour stays in range and in one piece."""
    hh = grids["households"]
    best = None
    for code in _eligible(grids, used):
        for other in _neighbours(grids, code):
            if other in used or other not in _eligible(grids, used):
                continue
            giver, taker = (other, code) if above else (code, other)
            for b in _border(blocks, grids, giver, taker):
                h = int(blocks.at[b, "households"])
                after_giver, after_taker = hh[giver] - h, hh[taker] + h
                rest = _polygonal(grids.geometry[giver].difference(blocks.geometry[b]))
                if not _single(rest):
                    continue
                if above and after_taker > HI and after_giver >= LO:
                    miss = after_taker - HI
                elif not above and after_giver < LO and after_taker <= HI:
                    miss = LO - after_giver
                else:
                    continue
                if best is None or miss < best[0]:
                    best = (miss, code, other, b)
    return None if best is None else best[1:]


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    parts = shapely.get_parts(shapely.make_valid(geom))
    polys = [p for p in parts if p.geom_type in ("Polygon", "MultiPolygon") and p.area > 1e-12]
    return shapely.union_all(polys) if polys else shapely.Polygon()


def _gap(grids, blocks, buildings, used: set[str]) -> tuple[str, str] | None:
    """(grid, block): a block of the grid on its border, holding no building, whose
    loss leaves the grid in one piece and in range."""
    occupied = set(buildings["block_id"].dropna().astype(str))
    for code in _eligible(grids, used):
        others = [c for c in _neighbours(grids, code) if c not in used]
        if not others:
            continue
        mine = blocks[(blocks["grid_code"] == code) & ~blocks.index.isin(occupied)]
        areas = mine["area_m2"].fillna(0)
        for b, g, area in zip(mine.index, mine.geometry, areas, strict=True):
            if area < 400 or not any(_shared(g, grids.geometry[o]) > TOUCH_DEG for o in others):
                continue
            if _single(_polygonal(grids.geometry[code].difference(g))):
                return code, b
    return None


def _cut(grids, blocks, buildings, used: set[str]) -> tuple[str, str, dict] | None:
    """(grid whose outline cuts, building cut, its reshape edit): a neighbour's block
    holding the building, the part of it nearer than the building's centre given to the
    grid, so its new boundary runs through the building and no other."""
    feet = buildings.set_index(buildings["building_id"].astype(str), drop=False)
    for code in _eligible(grids, used):
        for other in _neighbours(grids, code):
            if other in used or other not in _eligible(grids, used):
                continue
            for b in _border(blocks, grids, other, code):
                inside = feet[feet["block_id"].astype(str) == b]
                for bid in inside.index[inside["footprint_m2"].fillna(0).to_numpy() > 150]:
                    centre = feet.geometry[bid].centroid
                    reach = grids.geometry[code].distance(centre)
                    part = _polygonal(
                        blocks.geometry[b].intersection(grids.geometry[code].buffer(reach))
                    )
                    cutline = (
                        grids.geometry[code].buffer(reach).boundary.intersection(blocks.geometry[b])
                    )
                    # ~0.5 m in: through the building, not along its wall
                    shrunk = shapely.buffer(feet.geometry[inside.index].to_numpy(), -5e-6)
                    crossed = dict(
                        zip(inside.index, shapely.intersects(shrunk, cutline), strict=True)
                    )
                    if sum(crossed.values()) != 1 or not crossed[bid]:
                        continue
                    rest = _polygonal(grids.geometry[other].difference(part))
                    if not _single(rest) or part.is_empty:
                        continue
                    outline = _polygonal(shapely.union(grids.geometry[code], part))
                    if not _single(outline):
                        continue
                    edit = {
                        "op": "reshape",
                        "grid": code,
                        "geometry": shapely.geometry.mapping(outline),
                    }
                    return code, bid, edit
    return None


def break_plan(path: Path) -> Breaks:
    """Break four grids of the store's plan and save it (see the module's docstring)."""
    store = Store(path)
    grids, blocks, buildings = _frames(store)
    breaks = Breaks()
    over = _push_out(grids, blocks, breaks.used, above=True)
    if over is None:
        raise RuntimeError("no grid can be pushed above the range by one block")
    breaks.over = over[0]
    breaks.used |= {over[0], over[1]}
    under = _push_out(grids, blocks, breaks.used, above=False)
    if under is None:
        raise RuntimeError("no grid can be pushed below the range by one block")
    breaks.under = under[0]
    breaks.used |= {under[0], under[1]}
    editor = PlanEditor(store)
    version = editor.version
    editor.save(
        version,
        [
            {"op": "assign", "units": [over[2]], "to": over[0]},
            {"op": "assign", "units": [under[2]], "to": under[1]},
        ],
        message="walkthrough: two grids pushed out of range",
    )
    grids, blocks, buildings = _frames(Store(path))
    gap = _gap(grids, blocks, buildings, breaks.used)
    if gap is None:
        raise RuntimeError("no grid has an empty border block to leave out")
    breaks.gap, breaks.gap_block = gap
    breaks.used |= {gap[0], *_neighbours(grids, gap[0])}
    cut = _cut(grids, blocks, buildings, breaks.used)
    if cut is None:
        raise RuntimeError("no outline can be drawn through exactly one building")
    breaks.cut_grid, breaks.cut_building = cut[0], cut[1]
    breaks.used |= {cut[0], *_neighbours(grids, cut[0])}
    outline = _polygonal(grids.geometry[gap[0]].difference(blocks.geometry[gap[1]]))
    editor = PlanEditor(Store(path))
    saved = editor.save(
        editor.version,
        [
            {"op": "reshape", "grid": gap[0], "geometry": shapely.geometry.mapping(outline)},
            cut[2],
        ],
        message="walkthrough: a gap and a building cut",
    )
    breaks.version = int(saved["version"])
    # The fifth break is made on the page: a grid and a neighbour, both untouched so far.
    grids, _, _ = _frames(Store(path))
    for code in _eligible(grids, breaks.used):
        free = [c for c in _neighbours(grids, code) if c not in breaks.used]
        if free:
            breaks.overlap, breaks.overlap_neighbour = code, free[0]
            break
    return breaks


# -- the page ------------------------------------------------------------------------


def _view(page: Page, geom: shapely.Geometry, *, zoom: float | None = None) -> None:
    """Show ``geom`` (lon/lat) on the map: fitted (padded, at most zoom 18) or centred."""
    w, s, e, n = geom.bounds
    if zoom is None:
        js = (
            f"m.fitBounds([[{s}, {w}], [{n}, {e}]], "
            "{ padding: [60, 60], maxZoom: 18, animate: false })"
        )
    else:
        c = geom.centroid
        js = f"m.setView([{c.y}, {c.x}], {zoom}, {{ animate: false }})"
    page.page.evaluate(
        f"""() => {{
          document.body.dataset.ready = "0";
          const m = window.plannerMap.map;
          {js};
          if (m.getZoom() < 15.5) m.setZoom(15.5, {{ animate: false }});
          window.plannerMap.refresh();
        }}"""
    )
    page.wait()


def _visible(page: Page, lon: float, lat: float) -> bool:
    return page.page.evaluate(
        f"""() => {{
          const m = window.plannerMap.map;
          const p = m.latLngToContainerPoint([{lat}, {lon}]);
          const s = m.getSize();
          return p.x > 40 && p.y > 40 && p.x < s.x - 40 && p.y < s.y - 40;
        }}"""
    )


def _api(page: Page, url: str) -> Any:
    """GET from the page's own API with its session (what the map's layers are drawn from)."""
    answer = page.page.request.get(page.base_url.rstrip("/") + url)
    assert answer.ok, (url, answer.status, answer.text()[:300])
    return answer.json()


def _features(page: Page, layer: str, geom: shapely.Geometry) -> gpd.GeoDataFrame:
    """Features of ``layer`` drawn around ``geom``, with every attribute."""
    w, s, e, n = geom.buffer(0.002).bounds
    fc = _api(page, f"/api/layers/{layer}/features?bbox={w},{s},{e},{n}&limit=10000")
    if not fc["features"]:
        return gpd.GeoDataFrame({"geometry": []}, geometry="geometry", crs=4326)
    return gpd.GeoDataFrame.from_features(fc["features"], crs=4326)


def _grid(page: Page, code: str) -> dict[str, Any]:
    return _api(page, f"/api/layers/grids/features/{code}")


def _findings(page: Page) -> tuple[int, list[dict[str, Any]]]:
    """The rules panel's findings: (problems counted in its head line, one dict per line)."""
    head = page.page.locator("#editor-check-head")
    head.wait_for(timeout=60_000)
    page.page.wait_for_function(
        "() => { const h = document.getElementById('editor-check-head');"
        " return h && Number(h.dataset.edits) === 0; }",
        timeout=60_000,
    )
    items = page.page.evaluate(
        """() => Array.from(document.querySelectorAll('#editor-finding-list li.finding')).map(
          (li) => ({ index: Number(li.dataset.index), kind: li.dataset.kind,
                     grids: li.dataset.grids ? li.dataset.grids.split(',') : [],
                     ref: li.dataset.ref || null, lon: Number(li.dataset.lon),
                     lat: Number(li.dataset.lat), flagged: li.dataset.flagged === '1',
                     text: li.innerText }))"""
    )
    return int(head.get_attribute("data-defects")), items


def _counts_text(page: Page) -> str:
    found = page.page.locator("#editor-findings")
    if found.count():
        return found.inner_text()
    head = page.page.locator("#editor-check-head")
    return head.inner_text() if head.count() else ""


def _rows(page: Page) -> dict[str, tuple[int, bool]]:
    """The touched grids' rows of the panel: code → (households, in range)."""
    rows = page.page.evaluate(
        """() => Array.from(document.querySelectorAll('tr[data-grid]')).map((tr) => [
          tr.dataset.grid, tr.querySelector('td.hh').innerText, !!tr.querySelector('.ok')])"""
    )
    return {code: (int(re.sub(r"[^\d]", "", hh.split()[0])), ok) for code, hh, ok in rows}


def _editing(page: Page) -> bool:
    return page.page.evaluate("() => document.body.classList.contains('editing')")


def _start(page: Page, walk: Walk) -> tuple[int, list[dict[str, Any]]]:
    """Read the plan's own check in the rules panel: the session open (a save keeps it
    open, on the version saved), or a new one opened."""
    if _editing(page):
        return _findings(page)
    page.page.evaluate("() => { delete document.body.dataset.checkMs; }")
    page.page.click("#editor-toggle")
    defects, items = _findings(page)
    ms = page.page.evaluate("() => document.body.dataset.checkMs")
    walk.log(
        "开始编辑，读规则面板 (start editing, read the rules panel)",
        page.page.inner_text("#editor-check-head"),
        int(ms) if ms else None,
        kind="check",
    )
    return defects, items


def _inside(page: Page, code: str, near: shapely.Geometry | None = None) -> shapely.Point:
    """A point of grid ``code`` held by no other grid (as the map draws them), near ``near``."""
    geom = shape(_grid(page, code)["geometry"])
    others = _features(page, "grids", geom)
    others = others[others["grid_code"].astype(str) != code]
    free = geom.difference(shapely.union_all(others.geometry.to_numpy())) if len(others) else geom
    free = _polygonal(free.buffer(-2 * TOUCH_DEG))
    if free.is_empty:
        free = _polygonal(geom.buffer(-TOUCH_DEG))
    if near is not None:
        # The part of the grid nearest the place being edited, so both fit in one view.
        ring = free.intersection(near.buffer(0.003))
        if not ring.is_empty and ring.area > 0:
            free = _polygonal(ring)
            parts = sorted(shapely.get_parts(free), key=lambda p: p.distance(near))
            free = parts[0] if parts else free
    return free.representative_point()


def _pick(page: Page, walk: Walk, code: str, near: shapely.Geometry | None = None) -> None:
    """Make grid ``code`` the one painted into: 换网格, then a click inside it."""
    hint = page.page.inner_text("#editor-hint")
    if f" {code}" in hint or hint.endswith(code):
        return
    point = _inside(page, code, near)
    shown = point if near is None else shapely.MultiPoint([point, near.centroid])
    if not (
        _visible(page, point.x, point.y)
        and (near is None or _visible(page, *near.centroid.coords[0]))
    ):
        _view(page, shown.envelope.buffer(0.0003))
    page.page.click("#editor-regrid")
    _click_at(page, point.x, point.y)
    page.page.wait_for_function(
        f"() => document.getElementById('editor-hint').textContent.includes('{code}')",
        timeout=30_000,
    )
    walk.log(f"选网格 {code} (pick grid)", page.page.inner_text("#editor-hint"), kind="pick")


def _await_preview(page: Page) -> tuple[int | None, str]:
    """Wait for the live update after an edit: (ms measured in the browser, error or '')."""
    page.page.wait_for_function(
        "() => document.body.dataset.previewMs || document.getElementById('editor-error')",
        timeout=60_000,
    )
    error = page.page.locator("#editor-error")
    if error.count():
        return None, error.inner_text()
    return int(page.page.evaluate("() => document.body.dataset.previewMs")), ""


def _arm(page: Page) -> None:
    page.page.evaluate("() => { delete document.body.dataset.previewMs; }")


def _paint(page: Page, walk: Walk, block: dict[str, Any], into: str) -> tuple[int | None, str]:
    """Paint ``block`` (a blocks feature) into grid ``into``: pick the grid, click the block."""
    geom = shape(block["geometry"]) if isinstance(block["geometry"], dict) else block["geometry"]
    _pick(page, walk, into, geom)
    point = geom.representative_point()
    if not _visible(page, point.x, point.y):
        _view(page, shapely.MultiPoint([point, _inside(page, into, geom)]).envelope.buffer(0.0003))
    _arm(page)
    _click_at(page, point.x, point.y)
    ms, error = _await_preview(page)
    rows = _rows(page)
    shown = error or "；".join(
        f"{c} {h} 户 {'✓' if ok else '✗'}" for c, (h, ok) in sorted(rows.items())
    )
    walk.log(
        f"把地块 {block['block_id']}（{int(block.get('households') or 0)} 户）涂入 {into} "
        "(paint block)",
        f"{shown} · {_counts_text(page)}",
        ms,
    )
    return ms, error


def _save(page: Page, walk: Walk) -> None:
    """Save the session; the editor stays open on the saved version: wait until its rules
    panel shows that version's check (ready to edit again)."""
    page.page.evaluate("() => { document.getElementById('status').textContent = ''; }")
    started = time.perf_counter()
    page.page.click("#editor-save")
    page.page.wait_for_function(
        "() => document.getElementById('status').textContent.includes('已保存为方案版本')"
        " || document.getElementById('status').textContent.includes('未保存')",
        timeout=120_000,
    )
    saved_ms = round((time.perf_counter() - started) * 1000)
    status = page.page.inner_text("#status")
    assert "已保存" in status, status
    version = re.search(r"已保存为方案版本 (\d+)", status).group(1)
    page.page.wait_for_selector(
        f"#editor-check-head[data-base='{version}'][data-edits='0']", timeout=120_000
    )
    ready_ms = round((time.perf_counter() - started) * 1000)
    page.wait()
    step = walk.log("保存为新版本 (save)", status, saved_ms, kind="save")
    step.ready_ms = ready_ms
    walk.shot("saved")


def overlap_by_hand(page: Page, walk: Walk, code: str, neighbour: str) -> None:
    """Drag a vertex of grid ``code`` 30 px into ``neighbour`` (neighbours keep their
    land), see the overlap flagged, and save: the fifth break."""
    target = shape(_grid(page, neighbour)["geometry"]).representative_point()
    _view(page, shape(_grid(page, code)["geometry"]), zoom=17)
    if not _editing(page):
        page.page.click("#editor-toggle")
    _findings(page)
    _pick(page, walk, code)
    page.page.click("#editor-reshape")
    page.page.wait_for_selector(".marker-icon:not(.marker-icon-middle)")
    page.page.uncheck("#editor-reshape-take")
    drag_vertex_towards(page, target)
    _arm(page)
    page.page.click("#editor-reshape")
    ms, error = _await_preview(page)
    page.page.wait_for_function(
        "() => (document.getElementById('editor-findings') || {}).textContent?.includes('重叠')",
        timeout=60_000,
    )
    walk.log(
        f"拖动网格 {code} 的顶点 30 像素进入 {neighbour}（不占邻格）(drag a vertex)",
        error or _counts_text(page),
        ms,
        kind="break",
    )
    page.page.check("#editor-reshape-take")
    walk.shot("overlap_drawn")
    _save(page, walk)


# -- mending ---------------------------------------------------------------------------


def _block_at(page: Page, lon: float, lat: float) -> dict[str, Any] | None:
    """The block under a point, as the editor's own hit test finds it."""
    point = shapely.Point(lon, lat)
    d = 0.00003
    fc = _api(
        page, f"/api/layers/blocks/features?bbox={lon - d},{lat - d},{lon + d},{lat + d}&limit=50"
    )
    for f in fc["features"]:
        if shape(f["geometry"]).contains(point):
            return {**f["properties"], "geometry": f["geometry"]}
    return None


def _households(page: Page, code: str) -> int:
    return int(_grid(page, code)["properties"]["households"] or 0)


def _zoom(page: Page, walk: Walk, finding: dict[str, Any]) -> None:
    page.page.evaluate("() => { document.body.dataset.ready = '0'; }")
    page.page.click(f"#editor-finding-list li[data-index='{finding['index']}']")
    page.page.wait_for_function("() => document.body.dataset.finding")
    page.wait()
    walk.log("点击问题定位 (click the finding to zoom)", finding["text"], kind="zoom")
    walk.shot(f"finding_{finding['kind']}")


def _fix_options(page: Page, finding: dict[str, Any]) -> list[dict[str, Any]]:
    """The one-click fixes the finding's line offers, once their figures have come:
    [{grid, label, title, out (a grid concerned leaves the range)}]."""
    item = f"#editor-finding-list li[data-index='{finding['index']}']"
    if not page.page.locator(f"{item} button.finding-fix").count():
        return []
    # Each choice is previewed on the server: wait until every one shows its households
    # (a choice the server refuses is taken off the line).
    page.page.wait_for_function(
        f"""() => Array.from(document.querySelectorAll("{item} button.finding-fix"))
          .every((b) => /（[\\d,]+/.test(b.innerText))""",
        timeout=60_000,
    )
    return page.page.evaluate(
        f"""() => Array.from(document.querySelectorAll("{item} button.finding-fix")).map(
          (b) => ({{ grid: b.dataset.grid, label: b.innerText, title: b.title,
                     out: b.classList.contains('out') }}))"""
    )


def _one_click(page: Page, walk: Walk, finding: dict[str, Any]) -> bool | None:
    """Mend with the finding's one-click fix: the first choice keeping every grid
    concerned in range (else the first). None when the line offers none."""
    asked = time.perf_counter()
    options = _fix_options(page, finding)
    if not options:
        return None
    waited = round((time.perf_counter() - asked) * 1000)
    chosen = next((o for o in options if not o["out"]), options[0])
    _arm(page)
    page.page.click(
        f"#editor-finding-list li[data-index='{finding['index']}'] "
        f"button.finding-fix[data-grid='{chosen['grid']}']"
    )
    ms, error = _await_preview(page)
    rows = _rows(page)
    shown = error or "；".join(
        f"{c} {h} 户 {'✓' if ok else '✗'}" for c, (h, ok) in sorted(rows.items())
    )
    offered = " / ".join(o["label"] for o in options)
    walk.log(
        f"一键修复「{chosen['label']}」（可选：{offered}；选项户数 {waited} ms 后显示）"
        "(one-click fix)",
        f"{shown} · {_counts_text(page)}",
        ms,
    )
    return not error


def _mend_place(page: Page, walk: Walk, finding: dict[str, Any]) -> bool:
    """Overlaps, cut buildings, gaps, slivers, pieces, units in no grid: the block at the
    finding goes whole into one grid (the outline follows the block): by the line's
    one-click fix where it offers one, else by painting."""
    fixed = _one_click(page, walk, finding)
    if fixed is not None:
        return fixed
    block = _block_at(page, finding["lon"], finding["lat"])
    if block is None:
        walk.unmended.append(f"{finding['text']}: no block under it to paint")
        return False
    grids = [g for g in finding["grids"] if g]
    owner = str(block.get("grid_code") or "")
    if finding["kind"] in ("gaps", "unassigned_buildings", "unassigned_edge_areas", "multipart"):
        # The neighbour the block touches with the fewest households takes it.
        geom = shape(block["geometry"])
        around = _features(page, "grids", geom)
        around = around[around.geometry.intersects(geom.buffer(TOUCH_DEG))]
        codes = [str(c) for c in around["grid_code"]]
        if finding["kind"] == "multipart":
            codes = [c for c in codes if c not in grids] or codes
        if not codes:
            walk.unmended.append(f"{finding['text']}: no grid next to it")
            return False
        hh = dict(zip(around["grid_code"].astype(str), around["households"], strict=True))
        h = int(block.get("households") or 0)
        fits = [c for c in codes if hh[c] + h <= HI] or codes
        into = min(fits, key=lambda c: hh[c])
    elif finding["kind"] == "slivers":
        # A splinter of a grid inside another's block: the block goes back whole to its grid.
        into = owner or (grids[0] if grids else "")
    else:
        # Overlaps and cut buildings: the block's own grid first, the other one if that
        # puts a grid out of range (the panel shows ✗): undo and try it.
        choices = [owner] if owner in grids else []
        choices += [g for g in grids if g not in choices]
        for n, into in enumerate(choices):
            _, error = _paint(page, walk, block, into)
            ranges = [ok for _, ok in _rows(page).values()]
            if error or all(ranges) or n == len(choices) - 1:
                return not error
            _arm(page)
            page.page.click("#editor-undo")
            page.page.wait_for_function("() => !document.querySelector('tr[data-grid]')")
            walk.log(
                "撤销：有网格变为 ✗ (undo: a grid went out of range)",
                _counts_text(page),
                kind="undo",
            )
        return False
    if not into:
        walk.unmended.append(f"{finding['text']}: no grid to paint into")
        return False
    _, error = _paint(page, walk, block, into)
    return not error


def _owned(blocks: gpd.GeoDataFrame, code: str) -> gpd.GeoDataFrame:
    return blocks[blocks["grid_code"].astype(str) == code]


def _mend_range(page: Page, walk: Walk, finding: dict[str, Any]) -> bool:
    """A grid out of range: move border blocks between it and its neighbours, one click
    each, choosing by the blocks' households as the map shows them, until the panel
    shows it in range; merge a small grid into a neighbour when no block fits."""
    code = finding["grids"][0]
    geom = shape(_grid(page, code)["geometry"])
    grids = _features(page, "grids", geom)
    grids["grid_code"] = grids["grid_code"].astype(str)
    grids = grids.set_index("grid_code", drop=False)
    hh = {c: int(h or 0) for c, h in grids["households"].items()}
    locked = {c for c, v in grids["locked"].items() if bool(v)}
    shapes = dict(grids.geometry.items())
    blocks = _features(page, "blocks", geom)
    blocks["grid_code"] = blocks["grid_code"].astype(str)
    blocks["households"] = blocks["households"].fillna(0).astype(int)
    for _ in range(8):
        h = hh[code]
        if LO <= h <= HI:
            return True
        best = None
        for other in grids.index:
            if (
                other == code
                or other in locked
                or _shared(shapes[other], shapes[code]) <= TOUCH_DEG
            ):
                continue
            giver, taker = (code, other) if h > HI else (other, code)
            for row in _owned(blocks, giver).itertuples():
                bh = int(row.households)
                if bh <= 0 or _shared(row.geometry, shapes[taker]) <= TOUCH_DEG:
                    continue
                g_after, t_after = hh[giver] - bh, hh[taker] + bh
                mine = g_after if giver == code else t_after
                theirs = t_after if giver == code else g_after
                if not (LO <= theirs <= HI):
                    continue
                if not _single(_polygonal(shapes[giver].difference(row.geometry))):
                    continue
                # In range at once first, then the largest step towards it.
                score = (0 if LO <= mine <= HI else 1, -min(bh, abs(h - (HI if h > HI else LO))))
                if best is None or score < best[0]:
                    best = (score, row, giver, taker)
        if best is None:
            break
        _, row, giver, taker = best
        block = {
            "block_id": row.block_id,
            "households": int(row.households),
            "geometry": row.geometry,
        }
        _, error = _paint(page, walk, block, taker)
        if error:
            blocks = blocks[blocks["block_id"] != row.block_id]
            continue
        rows = _rows(page)
        for c in (giver, taker):
            hh[c] = rows.get(
                c, (hh[c] + (int(row.households) if c == taker else -int(row.households)), True)
            )[0]
        shapes[giver] = _polygonal(shapes[giver].difference(row.geometry))
        shapes[taker] = _polygonal(shapes[taker].union(row.geometry))
        blocks.loc[blocks["block_id"] == row.block_id, "grid_code"] = taker
    if LO <= hh[code] <= HI:
        return True
    if hh[code] < LO:
        fits = [
            o
            for o in grids.index
            if o != code
            and o not in locked
            and _shared(shapes[o], shapes[code]) > TOUCH_DEG
            and hh[o] + hh[code] <= HI
        ]
        if fits:
            other = max(fits, key=lambda o: hh[o])
            _pick(page, walk, code, shapes[other])
            page.page.click("#editor-merge")
            point = _inside(page, other, shapes[code])
            _arm(page)
            _click_at(page, point.x, point.y)
            ms, error = _await_preview(page)
            walk.log(f"把 {other} 并入 {code} (merge)", error or _counts_text(page), ms)
            return not error
    walk.unmended.append(f"{finding['text']}: no block move or merge brings it in range")
    return False


def mend(page: Page, walk: Walk, *, rounds: int = 30) -> tuple[int, list[dict[str, Any]]]:
    """Mend the plan on the page until its rules panel lists no problem (or nothing the
    page offers helps): one finding at a time, then save and go on with the version
    saved. Returns the last check."""
    tried: dict[str, int] = {}
    defects, items = _start(page, walk)
    for _ in range(rounds):
        todo = [f for f in items if not f["flagged"]]
        if not todo:
            break
        todo.sort(key=lambda f: ORDER.index(f["kind"]) if f["kind"] in ORDER else len(ORDER))
        todo = [f for f in todo if tried.get(f["text"], 0) < 2]
        if not todo:
            break
        finding = todo[0]
        tried[finding["text"]] = tried.get(finding["text"], 0) + 1
        _zoom(page, walk, finding)
        if finding["kind"] == "households_out_of_range":
            _mend_range(page, walk, finding)
        else:
            _mend_place(page, walk, finding)
        if page.page.locator("#editor-save").is_enabled():
            _save(page, walk)  # the session goes on with the version saved
        else:
            page.page.click("#editor-discard")
        defects, items = _start(page, walk)
    walk.shot("end")
    page.page.click("#editor-discard")
    return defects, items


# -- checking the end state (through the API) -----------------------------------------


def flag_is_true(
    flag: str, grid: shapely.Geometry, households: int, buildings: gpd.GeoDataFrame
) -> bool:
    """Whether a grid's out-of-range flag still holds: its reason code's fact is true of
    the grid as it stands (a building above the maximum is in it; it is below the
    minimum when the reason says so; above when it says so)."""
    if not flag:
        return False
    text = flag.lower()
    if Reason.SINGLE_BUILDING_OVER_MAX.template("en").split("{")[0].strip() in text:
        inside = buildings[buildings.geometry.representative_point().within(grid)]
        return bool((inside["households"].fillna(0) > HI).any()) and households > HI
    if households > HI:
        return "above" in text or "holds" in text
    return households < LO and ("below" in text or "fewer" in text or "cut off" in text)


def end_state(base_url: str, request) -> dict[str, Any]:
    """The plan as the API gives it: its grids, the check of the plan (preview of no
    edits) and the grids out of range."""
    plan = request.get(base_url.rstrip("/") + "/api/plan").json()
    out = [g for g in plan["grids"] if not LO <= (g["households"] or 0) <= HI]
    return {"plan": plan, "out_of_range": out}


def step_table(walk: Walk) -> str:
    """The steps as a text table, then the totals."""
    lines = [f"{'#':>3}  {'ms':>6}  {'kind':<6} action → what the page showed"]
    for s in walk.steps:
        ms = "" if s.ms is None else str(s.ms)
        shown = " ".join(s.shown.split())[:160]
        lines.append(f"{s.n:>3}  {ms:>6}  {s.kind:<6} {s.action} → {shown}")
    edits = [s.ms for s in walk.steps if s.kind == "edit" and s.ms is not None]
    checks = [s.ms for s in walk.steps if s.kind == "check" and s.ms is not None]
    saves = [s.ms for s in walk.steps if s.kind == "save" and s.ms is not None]
    lines.append(
        f"steps {len(walk.steps)}: edits {len(edits)}, saves {len(saves)}, "
        f"checks read {len(checks)}, zooms {sum(s.kind == 'zoom' for s in walk.steps)}, "
        f"grid picks {sum(s.kind == 'pick' for s in walk.steps)}"
    )
    if edits:
        lines.append(
            f"live update ms (browser): median {int(np.median(edits))}, max {max(edits)}, "
            f"under 1 s {sum(m < 1000 for m in edits)}/{len(edits)}"
        )
    if checks:
        lines.append(
            f"plan check on opening ms: median {int(np.median(checks))}, max {max(checks)}"
        )
    if saves:
        lines.append(f"save ms: median {int(np.median(saves))}, max {max(saves)}")
    ready = [s.ready_ms for s in walk.steps if s.kind == "save" and s.ready_ms is not None]
    if ready:
        lines.append(
            f"save → ready to edit the saved version ms: median {int(np.median(ready))}, "
            f"max {max(ready)} (editor kept open, no reopening)"
        )
    fixes = sum("one-click fix" in s.action for s in walk.steps)
    if fixes:
        lines.append(f"one-click fixes used: {fixes}")
    if walk.unmended:
        lines.append("not mended: " + "; ".join(walk.unmended))
    return "\n".join(lines)
