"""Shared fixtures: demo stores built once per session from the real shared OSM extracts."""

from __future__ import annotations

import shutil
from pathlib import Path

import pg
import pytest

from planner import config
from planner.pipeline import run_demo
from planner.store import Store, copy_store

OSM_DIR = config.DATA_DIR / "osm"
ROSTER_DIR = config.DATA_DIR / "rosters"


def pytest_configure(config):  # noqa: ARG001
    if not OSM_DIR.exists():
        pytest.exit(f"shared OSM data not found at {OSM_DIR}; set PLANNER_DATA", returncode=2)


@pytest.fixture(scope="session")
def built_stores(tmp_path_factory) -> dict[str, Path]:
    """Paths of stores built once per session, by demo area name (read-only: copy to change)."""
    return {}


def _built(area: str, built_stores: dict[str, Path], tmp_path_factory) -> Path:
    if area not in built_stores:
        path = tmp_path_factory.mktemp(area) / f"{area}.gpkg"
        run_demo(area, store_path=path)
        built_stores[area] = path
    return built_stores[area]


@pytest.fixture(scope="session")
def nanjing_path(built_stores, tmp_path_factory) -> Path:
    """The Nanjing demo store (OSM + roster), shared: never write to it, use ``nanjing_store``."""
    return _built("nanjing_xinjiekou", built_stores, tmp_path_factory)


@pytest.fixture(scope="session")
def tsinghua_path(built_stores, tmp_path_factory) -> Path:
    """The Beijing Tsinghua store (walls and gates), shared read-only."""
    return _built("beijing_tsinghua", built_stores, tmp_path_factory)


@pytest.fixture
def nanjing_store(nanjing_path, tmp_path) -> Store:
    """A private, writable copy of the Nanjing demo store."""
    copy = tmp_path / "nanjing.gpkg"
    shutil.copyfile(nanjing_path, copy)
    return Store(copy)


@pytest.fixture
def tsinghua_store(tsinghua_path, tmp_path) -> Store:
    """A private, writable copy of the Tsinghua store."""
    copy = tmp_path / "tsinghua.gpkg"
    shutil.copyfile(tsinghua_path, copy)
    return Store(copy)


#: A corner of the Nanjing buildings' extent, tiled 2×2 for the two-community store.
TWO_CORNER = (118.7624, 32.0328, 118.7740, 32.0420)


@pytest.fixture(scope="session")
def two_communities_path(tmp_path_factory) -> Path:
    """A store of two communities with grids drawn, shared read-only (copy to change).

    As tests/test_communities.py builds its store: a corner of the Nanjing extract
    tiled 2×2 edge to edge by the benchmark helper (benchmarks/tiles.py); the west
    column of tiles is one community (320102001001, 西区社区), the east column the other
    (320102001002, 东区社区).
    """
    import importlib.util
    import json
    import sys

    from planner.grids import make_grids
    from planner.pipeline import import_osm

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("bench_tiles", root / "benchmarks" / "tiles.py")
    tiles = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_tiles", tiles)  # its dataclass looks its module up
    spec.loader.exec_module(tiles)
    folder = tmp_path_factory.mktemp("two_communities")
    osm = folder / "two.osm"
    tiles.write_tiled(tiles.clip_extract(OSM_DIR / "nanjing_xinjiekou.osm", TWO_CORNER), 2, osm)
    west, south, east, north = TWO_CORNER
    dx, dy = east - west, north - south
    features = []
    for k, name in enumerate(("西区社区", "东区社区")):
        w, e = west + k * dx, west + (k + 1) * dx
        ring = [[w, south], [e, south], [e, south + 2 * dy], [w, south + 2 * dy], [w, south]]
        features.append(
            {
                "type": "Feature",
                "properties": {"name": name, "community_code": f"32010200100{k + 1}"},
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            }
        )
    boundaries = folder / "two.geojson"
    collection = {"type": "FeatureCollection", "features": features}
    boundaries.write_text(json.dumps(collection, ensure_ascii=False), encoding="utf-8")
    path = folder / "two.gpkg"
    store, report = import_osm(osm, path, boundary_file=boundaries)
    assert report["communities"] == 2
    make_grids(store)
    return path


@pytest.fixture
def two_communities(two_communities_path, tmp_path) -> Store:
    """A private, writable copy of the two-community store."""
    copy = tmp_path / "two.gpkg"
    shutil.copyfile(two_communities_path, copy)
    return Store(copy)


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium under Playwright, one per test module (the browser tests)."""
    from playwright.sync_api import sync_playwright

    from tests.test_webmap_browser import ARGS, CHROMIUM

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def editable_server(nanjing_path, tmp_path):
    """A real server of a private copy of the demo store, with an admin account:
    (running server, store path). The editor's and the analyses' browser tests write to it."""
    from tests.test_webmap_browser import _serve

    path = tmp_path / "served.gpkg"
    shutil.copyfile(nanjing_path, path)
    running = _serve(path)
    yield running, path
    running.stop()


@pytest.fixture(scope="session")
def postgres():
    """A PostgreSQL server with PostGIS for the session (fails where it is not installed)."""
    server = pg.start_server()
    yield server
    server.stop()
    shutil.rmtree(server.folder, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_templates() -> dict[str, str]:
    """Demo stores copied once into PostGIS, by area (read-only: tests get clones)."""
    return {}


def _pg_copy(area: str, request) -> str:
    """A private PostGIS store (a schema of its own) holding the demo store of ``area``."""
    server = request.getfixturevalue("postgres")
    templates = request.getfixturevalue("pg_templates")
    if area not in templates:
        source = _built(
            area,
            request.getfixturevalue("built_stores"),
            request.getfixturevalue("tmp_path_factory"),
        )
        templates[area] = server.url("template")
        copy_store(source, templates[area])
    url = server.url()
    pg.clone_schema(server.database_url, Store(templates[area]).path.schema, url.split("=")[-1])
    return url


@pytest.fixture(params=["gpkg", "postgis"])
def backend(request) -> str:
    """Each store test runs on both backends: a GeoPackage file and a PostGIS schema."""
    return request.param


@pytest.fixture
def nanjing_any(backend, request, tmp_path) -> Store:
    """A private, writable Nanjing demo store on each backend (see ``backend``)."""
    if backend == "gpkg":
        return request.getfixturevalue("nanjing_store")
    return Store(_pg_copy("nanjing_xinjiekou", request))


@pytest.fixture
def tsinghua_any(backend, request, tmp_path) -> Store:
    """A private, writable Tsinghua demo store on each backend (see ``backend``)."""
    if backend == "gpkg":
        return request.getfixturevalue("tsinghua_store")
    return Store(_pg_copy("beijing_tsinghua", request))


@pytest.fixture
def two_communities_any(backend, request) -> Store:
    """A private, writable two-community store on each backend (see ``backend``)."""
    if backend == "gpkg":
        return request.getfixturevalue("two_communities")
    url = request.getfixturevalue("postgres").url()
    copy_store(request.getfixturevalue("two_communities_path"), url)
    return Store(url)


#: The password of the accounts tests make (long enough for planner.accounts).
TEST_PASSWORD = "test-password-1"


@pytest.fixture
def login():
    """Log a Flask test client in: ``login(client, store_path, role="admin")`` → CSRF token.

    Makes the account (named after its role) when the store lacks it, logs in through
    ``POST /api/login`` and has the client send the CSRF token with every request after.
    """
    from planner import accounts

    def log_in(client, store_path, role: str = "admin", name: str | None = None) -> str:
        name = name or role
        if accounts.get_user(store_path, name) is None:
            accounts.add_user(store_path, name, role, TEST_PASSWORD)
        response = client.post("/api/login", json={"username": name, "password": TEST_PASSWORD})
        assert response.status_code == 200, response.get_data(as_text=True)
        token = response.get_json()["csrf_token"]
        client.environ_base["HTTP_X_CSRF_TOKEN"] = token
        return token

    return log_in
