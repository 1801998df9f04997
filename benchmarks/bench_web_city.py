"""Web map at city scale: p50/p95 of 20 clients panning and zooming, at 1 and 81 tiles.

Serves each store with ``planner serve`` (the real HTTP server, gzip on) in its own
process, then 20 concurrent keep-alive clients (asyncio), each a planner moving about
the map: a view somewhere in the area at zoom 13–18, then pans of half a screen and
zooms in or out by one, and now and then a jump elsewhere. For each view a client asks
what the map page asks for its big layers — the buildings' tiles over the view
(``/api/layers/buildings/tiles/z/x/y``, one zoom below the map's, with the style's
fields) — and every answer's latency is one sample. The first ``/api/layers`` of a
freshly started server (the page's first load) is timed apart, before and after a
restart (the catalogue kept beside the store), and so is the first tile, which reads
the layer and starts the background making of its tiles of zoom 15 and below
(``TILE_SEED_ZOOM``); the clients start once that is done, as on a server that has been
up a minute. For comparison the same views are also
asked the old way, one bbox request per view (``/api/layers/buildings/features``).

The stores are the tiled Nanjing test area (``benchmarks/tiles.py``) after the whole
pipeline: give them with ``--store1`` and ``--store81`` (as ``bench_city.py`` leaves
them), or let ``--build`` make them (about half an hour at 81 tiles on 2 cores).

    python benchmarks/bench_web_city.py --store1 city1.gpkg --store81 city9.gpkg
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_webmap import accounts_for, start_server  # noqa: E402

from planner_web.features import FeatureSource  # noqa: E402
from planner_web.tiles import tiles_covering  # noqa: E402

#: The map's area on a 1440×900 screen (the side panel takes 330 px).
SCREEN = (1440 - 330, 900)
#: The style's fields of the buildings (webmap/static/js/styles.js).
FIELDS = "households,covered"


def view_box(lon: float, lat: float, zoom: int, pad: float = 0.1) -> tuple[float, ...]:
    """The lon/lat box a screen centred at ``lon, lat`` shows at ``zoom`` (padded)."""
    deg = 360.0 / (256 * 2**zoom)
    half_w = SCREEN[0] * deg / 2 * (1 + 2 * pad)
    half_h = SCREEN[1] * deg / 2 * (1 + 2 * pad) * np.cos(np.radians(lat))
    return (lon - half_w, lat - half_h, lon + half_w, lat + half_h)


def sessions(bounds, clients: int, views: int, seed: int = 7) -> list[list[tuple]]:
    """Per client, a walk of ``views`` map views ``(lon, lat, zoom)`` over ``bounds``."""
    rng = np.random.default_rng(seed)
    west, south, east, north = bounds
    out = []
    for _ in range(clients):
        walk = []
        lon, lat, zoom = rng.uniform(west, east), rng.uniform(south, north), 16
        for _ in range(views):
            move = rng.random()
            if move < 0.1:  # a jump elsewhere (a search hit, a colleague's link)
                lon, lat = rng.uniform(west, east), rng.uniform(south, north)
                zoom = int(rng.integers(13, 19))
            elif move < 0.4:
                zoom = int(np.clip(zoom + rng.choice([-1, 1]), 13, 18))
            else:  # a pan of half a screen
                deg = 360.0 / (256 * 2**zoom)
                angle = rng.uniform(0, 2 * np.pi)
                lon = float(np.clip(lon + np.cos(angle) * SCREEN[0] / 2 * deg, west, east))
                lat = float(np.clip(lat + np.sin(angle) * SCREEN[1] / 2 * deg, south, north))
            walk.append((lon, lat, zoom))
        out.append(walk)
    return out


def tile_paths(walk: list[tuple]) -> list[str]:
    """The tile requests of a walk, as the page makes them (tiles it has are not asked again)."""
    seen: set[str] = set()
    paths = []
    for lon, lat, zoom in walk:
        z = max(0, min(17, zoom - 1))
        for x, y in tiles_covering(view_box(lon, lat, zoom), z):
            path = f"/api/layers/buildings/tiles/{z}/{x}/{y}?properties={FIELDS}"
            if path not in seen:
                seen.add(path)
                paths.append(path)
    return paths


def bbox_paths(walk: list[tuple]) -> list[str]:
    """The same walk the old way: one bbox request per view (the page pads by 25 %)."""
    paths = []
    for lon, lat, zoom in walk:
        w, s, e, n = view_box(lon, lat, zoom, pad=0.25)
        paths.append(
            f"/api/layers/buildings/features?bbox={w:.6f},{s:.6f},{e:.6f},{n:.6f}"
            f"&zoom={zoom}&limit=10000&properties={FIELDS}"
        )
    return paths


async def _client(host: str, port: int, paths: list[str], token: str, out: dict) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        for path in paths:
            started = time.perf_counter()
            writer.write(
                f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept-Encoding: gzip\r\n"
                f"Authorization: Bearer {token}\r\n\r\n".encode()
            )
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))
            body = await reader.readexactly(length)
            out["latency"].append(time.perf_counter() - started)
            out["path"].append(path)
            out["bytes"].append(len(body))
            out["status"][status] = out["status"].get(status, 0) + 1
    finally:
        writer.close()


def run_clients(host: str, per_client: list[list[str]], token: str) -> dict:
    """Every client's requests, the clients concurrent; latencies in seconds."""
    out: dict = {"latency": [], "bytes": [], "status": {}, "path": []}
    hostname, port = host.split(":")

    async def run() -> None:
        await asyncio.gather(
            *(_client(hostname, int(port), paths, token, out) for paths in per_client)
        )

    started = time.perf_counter()
    asyncio.run(run())
    out["seconds"] = time.perf_counter() - started
    return out


def first_layers(host: str, token: str) -> float:
    """Seconds of the first ``/api/layers`` (the page's first request)."""
    conn = http.client.HTTPConnection(*host.split(":"), timeout=600)
    started = time.perf_counter()
    conn.request("GET", "/api/layers", headers={"Authorization": f"Bearer {token}"})
    response = conn.getresponse()
    response.read()
    assert response.status == 200, response.status
    return time.perf_counter() - started


def seeding(host: str, token: str) -> bool:
    """Whether the server is still making tiles in the background."""
    conn = http.client.HTTPConnection(*host.split(":"), timeout=60)
    conn.request("GET", "/api/health", headers={"Authorization": f"Bearer {token}"})
    return bool(json.loads(conn.getresponse().read()).get("tiles_seeding"))


def bench_store(label: str, store: Path, args) -> dict:
    """Serve ``store``; time the first page load, then the clients' tiles and bboxes."""
    source = FeatureSource(store)
    bounds = source.layer("buildings").bounds
    count = len(source.layer("buildings"))
    walks = sessions(bounds, args.clients, args.views)
    tokens = accounts_for(store)
    result: dict = {"label": label, "buildings": count}
    catalog = store.with_name(store.name + ".catalog.json")
    catalog.unlink(missing_ok=True)
    for run in ("cold", "restart"):
        process, host = start_server(store, args.threads)
        try:
            result[f"first_layers_{run}_s"] = round(first_layers(host, tokens["viewer"]), 3)
            if run == "restart":
                # The first tile reads the layer into the server (once per layer version).
                lon, lat = (bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2
                x, y = tiles_covering((lon, lat, lon, lat), 15)[0]
                warm = f"/api/layers/buildings/tiles/15/{x}/{y}?properties={FIELDS}"
                started = time.perf_counter()
                run_clients(host, [[warm]], tokens["viewer"])
                result["first_tile_s"] = round(time.perf_counter() - started, 3)
                # The server then makes the layer's tiles of zoom 15 and below in the
                # background (TILE_SEED_ZOOM): a server up for a minute has them.
                started = time.perf_counter()
                while seeding(host, tokens["viewer"]):
                    time.sleep(0.5)
                result["seed_s"] = round(time.perf_counter() - started, 1)
                tiles = run_clients(host, [tile_paths(w) for w in walks], tokens["viewer"])
                bbox = run_clients(host, [bbox_paths(w) for w in walks], tokens["viewer"])
        finally:
            process.terminate()
            process.wait(timeout=30)
    for name, out in (("tiles", tiles), ("bbox", bbox)):
        ms = np.array(out["latency"]) * 1000
        p50, p95 = np.percentile(ms, [50, 95])
        result[name] = {
            "requests": len(ms),
            "p50_ms": round(float(p50), 1),
            "p95_ms": round(float(p95), 1),
            "req_per_s": round(len(ms) / out["seconds"], 1),
            "kib_mean": round(float(np.mean(out["bytes"])) / 1024, 1),
            "status": out["status"],
        }
    # Where the slow answers are: p95 per tile zoom.
    zooms = np.array([int(p.split("/tiles/")[1].split("/")[0]) for p in tiles["path"]])
    ms = np.array(tiles["latency"]) * 1000
    result["tiles"]["p95_ms_by_zoom"] = {
        int(z): round(float(np.percentile(ms[zooms == z], 95)), 1) for z in np.unique(zooms)
    }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store1", type=Path, help="the 1-tile store after the pipeline")
    parser.add_argument("--store81", type=Path, help="the 81-tile store after the pipeline")
    parser.add_argument("--build", action="store_true", help="make the stores (bench_city)")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--views", type=int, default=30, help="map views per client")
    parser.add_argument("--threads", type=int, default=8, help="server worker threads")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        stores = {}
        for n, given in ((1, args.store1), (9, args.store81)):
            target = folder / f"city{n * n}.gpkg"
            if given is not None:
                shutil.copyfile(given, target)  # a copy: the benchmark adds accounts
            elif args.build:
                from bench_city import run_size

                from planner import config

                source = config.DATA_DIR / "osm" / "nanjing_xinjiekou.osm"
                run_size(n, folder, layout="tiles", source=source)
                shutil.move(folder / f"city{n}_tiles.gpkg", target)
            else:
                parser.error("give --store1 and --store81, or --build")
            stores[n * n] = target
        results = [bench_store(f"{n} tile(s)", path, args) for n, path in stores.items()]
    one, city = results
    print(f"web map, {args.clients} clients, {args.views} views each (zoom 13–18)")
    print("| | " + " | ".join(f"{r['label']} ({r['buildings']:,} bldg)" for r in results) + " |")
    print("| --- | --- | --- |")
    for key, name in (("first_layers_cold_s", "first /api/layers, new server"),):
        print(f"| {name} | " + " | ".join(f"{r[key]:.2f} s" for r in results) + " |")
    print(
        "| first tile (reads the layer) | "
        + " | ".join(f"{r['first_tile_s']:.2f} s" for r in results)
        + " |"
    )
    print(
        "| background tiles, zoom ≤ 15 | "
        + " | ".join(f"{r['seed_s']:.1f} s" for r in results)
        + " |"
    )
    key = "first_layers_restart_s"
    print(
        "| first /api/layers after a restart | "
        + " | ".join(f"{r[key]:.2f} s" for r in results)
        + " |"
    )
    for kind in ("tiles", "bbox"):
        cells = [
            f"{r[kind]['requests']} req, p50 {r[kind]['p50_ms']} ms, p95 {r[kind]['p95_ms']} ms, "
            f"{r[kind]['kib_mean']} KiB"
            for r in results
        ]
        print(f"| {kind} | " + " | ".join(cells) + " |")
    for r in results:
        by_zoom = ", ".join(f"z{z} {v} ms" for z, v in r["tiles"]["p95_ms_by_zoom"].items())
        print(f"tiles p95 by tile zoom, {r['label']}: {by_zoom}")
    for kind in ("tiles", "bbox"):
        ratio = city[kind]["p95_ms"] / one[kind]["p95_ms"]
        print(f"p95 ratio 81/1 tiles, {kind}: {ratio:.2f}× (goal for the map page's tiles: ≤ 1.5×)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
