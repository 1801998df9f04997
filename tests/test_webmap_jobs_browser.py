"""Generate grids from the page, see the proposed plan's figures, accept it as a new version.

Chromium against waitress on a private copy of the demo store, as in
:mod:`tests.test_webmap_browser`; screenshots go to ``artifacts/screenshots/``.
"""

from __future__ import annotations

import hashlib

import pytest

from planner import plan_versions
from planner.store import Store
from tests.test_webmap_browser import CHROMIUM, Page
from tests.test_webmap_jobs import deleted_grid

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="/usr/bin/chromium absent (make test installs it)"
    ),
]


@pytest.fixture
def server(editable_server):
    """The demo store served from a private copy: (running server, store path)."""
    return editable_server


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_generate_grids_from_the_page_and_accept_it(browser, server):
    running, path = server
    deleted_grid(path)  # so that the generated plan differs from the current one
    base = plan_versions.current_version(Store(path))
    page = Page(browser, running.url)
    page.open("/")
    before = _digest(path)

    page.page.click("#analysis button[data-step='make_grids_step']")
    page.page.wait_for_selector("#job-decide:not([hidden])", timeout=600_000)
    figures = page.page.inner_text("#job-figures")
    job = page.page.inner_text("#job")
    assert "待确认" in job, job
    # The proposed plan's figures, not only "done".
    for words in ("网格", "超出范围", "拓扑问题", "与当前方案相比", "调整户数"):
        assert words in figures, figures
    assert _digest(path) == before  # nothing saved yet
    page.page.locator("#job-decide").scroll_into_view_if_needed()
    page.shot("jobs_generate_grids_proposed")

    page.page.click("#job-accept")
    page.page.wait_for_function(
        "() => document.getElementById('job').textContent.includes('已接受')", timeout=120_000
    )
    assert page.page.locator("#job-decide").is_hidden()
    new = base + 1
    assert plan_versions.current_version(Store(path)) == new
    # The versions panel shows the new version, current, and why it was made.
    first = page.page.locator("#versions-list li").first
    first.wait_for(timeout=30_000)
    page.page.wait_for_function(
        f"() => document.querySelector('#versions-list li').dataset.version === '{new}'",
        timeout=30_000,
    )
    text = first.inner_text()
    assert "当前" in text and "接受分析结果" in text, text
    page.wait()
    page.page.locator("#versions-box").scroll_into_view_if_needed()
    page.shot("jobs_generate_grids_accepted")
    page.check_clean()
    page.close()
