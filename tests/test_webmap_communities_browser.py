"""A store of two communities in a real browser: the map's community selector scopes the
versions panel and the editor; the dashboard compares the communities and shows one.

Chromium against waitress, as in :mod:`tests.test_webmap_browser`, on the two-community
store of ``tests/conftest.py``; what the page shows is checked against the engine.
"""

from __future__ import annotations

import shutil

import pytest

from planner import accounts, plan_versions
from planner.grids import make_grids
from planner.store import Store
from planner_web import create_app
from planner_web.server import start_background
from tests.test_webmap_browser import ADMIN, CHROMIUM, Page

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="/usr/bin/chromium absent (make test installs it)"
    ),
]


@pytest.fixture(scope="module")
def server(two_communities_path, tmp_path_factory):
    """A server of a copy of the two-community store, whose second community was redrawn
    (a plan version that changed it alone)."""
    path = tmp_path_factory.mktemp("communities-browser") / "two.gpkg"
    shutil.copyfile(two_communities_path, path)
    store = Store(path)
    second = str(store.read("community")["community_code"].iloc[1])
    make_grids(store, community=second, max_households=450)
    accounts.add_user(path, ADMIN[0], "admin", ADMIN[1])
    running = start_background(create_app({"STORE": str(path)}))
    yield running, path
    running.stop()


def _listed(page: Page) -> list[int]:
    return page.page.eval_on_selector_all(
        "#versions-list li[data-version]", "items => items.map(li => Number(li.dataset.version))"
    )


def test_the_map_scopes_versions_and_edits_to_the_chosen_community(browser, server):
    running, path = server
    store = Store(path)
    codes = store.read("community")["community_code"].astype(str).tolist()
    page = Page(browser, running.url)
    failed: list[tuple[int, str]] = []
    page.page.on(
        "response", lambda r: failed.append((r.status, r.url)) if r.status >= 400 else None
    )
    try:
        page.open("/")
        assert page.page.is_visible("#community-select")
        options = page.page.eval_on_selector_all(
            "#community-select option", "items => items.map(o => [o.value, o.textContent])"
        )
        assert [v for v, _ in options] == ["", *codes]
        assert options[0][1] == "全部社区"
        page.page.wait_for_selector("#versions-box[data-community='']", state="attached")
        whole = _listed(page)
        assert sorted(whole) == sorted(plan_versions.list_versions(store)["plan_version"])
        for code in codes:
            page.page.select_option("#community-select", code)
            page.page.wait_for_selector(f"#versions-box[data-community='{code}']", state="attached")
            mine = plan_versions.list_versions(store, community=code)["plan_version"].tolist()
            assert sorted(_listed(page)) == sorted(mine)
        # The first community never changed after the first version; the second did.
        assert len(_listed(page)) == len(whole)
        page.page.select_option("#community-select", codes[0])
        page.page.wait_for_selector(f"#versions-box[data-community='{codes[0]}']", state="attached")
        assert len(_listed(page)) < len(whole)
        # The editor's previews carry the chosen community: an edit of the other's grid is
        # refused by the server with the reason, and taken off; the selector then waits.
        other = store.read("grids")["grid_code"].astype(str)
        other = other[other.str.startswith(codes[1])].iloc[0]
        error = page.page.evaluate(
            """async (grid) => {
                 const editor = await import("/static/js/editor.js");
                 await editor.ensureEditing();
                 await editor.addEdit({op: "rename", grid: grid, name: "x"});
                 return [editor.ed.error, editor.ed.edits.length];
               }""",
            other,
        )
        assert codes[0] in error[0] and other in error[0] and error[1] == 0
        page.shot("communities-map")
        # The refused preview is the one refused request; the store has no staff roster,
        # which the contacts' lookup finds out by a 404, as on any store without one.
        paths = {(status, url.split("?")[0].split("/api/", 1)[1]) for status, url in failed}
        assert paths == {(400, "plan/preview"), (404, "layers/staff/features")}, paths
        assert len(page.errors) == len(failed), page.errors
    finally:
        page.close()


def test_the_dashboard_compares_communities_and_shows_one(browser, server):
    running, path = server
    codes = Store(path).read("community")["community_code"].astype(str).tolist()
    page = Page(browser, running.url)
    try:
        page.page.goto(running.url.rstrip("/") + "/dashboard")
        page.page.wait_for_selector("body[data-ready='1']", state="attached", timeout=180_000)
        page.page.wait_for_selector("body[data-communities='2']", state="attached")
        rows = page.page.eval_on_selector_all(
            "#communities-table tbody tr", "rows => rows.map(r => r.dataset.key)"
        )
        assert rows == codes
        page.page.click(f"#communities-table tbody tr[data-key='{codes[1]}']")
        page.page.wait_for_selector(f"body[data-community='{codes[1]}']", state="attached")
        page.page.wait_for_selector("body[data-ready='1']", state="attached", timeout=180_000)
        grids = page.page.eval_on_selector_all(
            "#grids-table tbody tr", "rows => rows.map(r => r.dataset.key)"
        )
        assert grids and all(g.startswith(codes[1]) for g in grids)
        assert page.page.input_value("#community-select") == codes[1]
        # The map zoomed to the community: its centre is in the east half.
        centre = page.page.evaluate("() => window.plannerDashboard.map.getCenter().lng")
        west, east = Store(path).read("community").geometry.bounds.minx.tolist()
        assert centre > east > west
        page.shot("communities-dashboard")
        page.check_clean()
    finally:
        page.close()
