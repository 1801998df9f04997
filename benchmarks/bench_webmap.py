"""Web map speed: viewport (bbox) GeoJSON requests from 20 concurrent clients against waitress.

Starts ``planner serve`` in its own process on 127.0.0.1 (the real server, gzip on),
then 20 client threads with keep-alive connections, each with a viewer's API token, ask
for the buildings of random map viewports (a 1440×900 screen at zoom 15–18). Prints
p50/p95/p99 latency, the throughput and the payload, for the demo store and for the demo
tiled 3×3 (~11,500 buildings). Then compares, in-process, the server's cached path
(index query + string join) with the obvious alternative (GeoPackage bbox read +
GeoDataFrame.to_json) for the same viewports.

With ``--with-jobs`` a planner keeps analysis runs going meanwhile (``all``, as many as
the queue takes: one running, five waiting); every answer's status is counted.

    python benchmarks/bench_webmap.py [--store layers/demo.gpkg] [--requests 2000] [--with-jobs]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
import shapely

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from planner import accounts, config  # noqa: E402
from planner.pipeline import run_demo  # noqa: E402
from planner.store import Store  # noqa: E402
from planner_web.features import FeatureSource  # noqa: E402

SCREEN = (1440 - 330, 900)  # map area of the page, in pixels


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def viewports(bounds, n: int, seed: int = 1) -> list[tuple[float, float, float, float, int]]:
    """Random screen-sized boxes centred in the data, with their zoom."""
    rng = np.random.default_rng(seed)
    west, south, east, north = bounds
    out = []
    for _ in range(n):
        zoom = int(rng.integers(15, 19))
        deg = 360.0 / (256 * 2**zoom)
        half_w = SCREEN[0] * deg / 2 * 1.25  # the page pads the view by 25 %
        half_h = SCREEN[1] * deg / 2 * 1.25 * np.cos(np.radians((south + north) / 2))
        x, y = rng.uniform(west, east), rng.uniform(south, north)
        out.append((x - half_w, y - half_h, x + half_w, y + half_h, zoom))
    return out


def tiled_store(source: Path, target: Path, n: int = 3) -> Path:
    """A copy of ``source`` with its buildings repeated n×n side by side (for ~10k buildings)."""
    shutil.copyfile(source, target)
    store = Store(target)
    buildings = store.read("buildings")
    west, south, east, north = buildings.total_bounds
    dx, dy = (east - west) * 1.02, (north - south) * 1.02
    copies = []
    for i in range(n):
        for j in range(n):
            part = buildings.copy()
            part["building_id"] = part["building_id"] + f"-{i}{j}"
            offset = np.array([i * dx, j * dy])
            part.geometry = shapely.transform(part.geometry.to_numpy(), offset.__radd__)
            copies.append(part)
    tiled = pd.concat(copies, ignore_index=True)
    store.write("buildings", tiled)
    return target


def accounts_for(store: Path) -> dict[str, str]:
    """API tokens of a viewer (the readers) and a planner (the job submitter) in ``store``."""
    tokens = {}
    for role in ("viewer", "planner"):
        name = f"bench-{role}"
        if accounts.get_user(store, name) is None:
            accounts.add_user(store, name, role, "bench-password-1")
        tokens[role] = accounts.make_token(store, name)
    return tokens


def start_server(store: Path, threads: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "planner.cli", "serve", str(store), "--port", str(port)]
        + ["--threads", str(threads)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    process.stdout.readline()
    for _ in range(200):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/api/health")
            if conn.getresponse().status == 200:
                return process, f"127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server did not start")


async def _client(
    host: str, port: int, paths, counter, deadline, latencies, sizes, statuses, token
) -> None:
    """One keep-alive HTTP/1.1 client: next path, send, read the whole gzipped body, repeat."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < deadline:
            i = next(counter, None)
            if i is None:
                break
            started = time.perf_counter()
            writer.write(
                f"GET {paths[i]} HTTP/1.1\r\nHost: {host}\r\nAccept-Encoding: gzip\r\n"
                f"Authorization: Bearer {token}\r\n\r\n".encode()
            )
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))
            body = await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            sizes.append(len(body))
            statuses[status] = statuses.get(status, 0) + 1
    finally:
        writer.close()


def run_clients(host: str, paths: list[str], clients: int, time_limit: float, token: str):
    """``clients`` concurrent connections (asyncio, one thread: the client stays light)."""
    latencies: list[float] = []
    sizes: list[int] = []
    statuses: dict[int, int] = {}
    counter = iter(range(len(paths)))
    hostname, port = host.split(":")

    async def run() -> None:
        deadline = time.perf_counter() + time_limit
        await asyncio.gather(
            *(
                _client(
                    hostname, int(port), paths, counter, deadline, latencies, sizes, statuses, token
                )
                for _ in range(clients)
            )
        )

    started = time.perf_counter()
    asyncio.run(run())
    return np.array(latencies), np.array(sizes), time.perf_counter() - started, statuses


def submit_jobs(host: str, token: str, stop: threading.Event, answers: dict[int, int]) -> None:
    """Keep analysis jobs running and queued, never more than the queue holds (5 waiting)."""
    headers = {"Authorization": f"Bearer {token}"}
    while not stop.is_set():
        conn = http.client.HTTPConnection(*host.split(":"), timeout=60)
        conn.request("GET", "/api/jobs", headers=headers)
        jobs = json.loads(conn.getresponse().read())["jobs"]
        waiting = sum(1 for j in jobs if j["state"] == "queued")
        if waiting < 5:
            conn.request("POST", "/api/analysis/all", headers=headers)
            response = conn.getresponse()
            response.read()
            answers[response.status] = answers.get(response.status, 0) + 1
        conn.close()
        stop.wait(0.5)


def bench_server(label: str, store: Path, args) -> None:
    boxes = viewports(FeatureSource(store).layer("buildings").bounds, args.requests)
    paths = [
        f"/api/layers/buildings/features?bbox={w:.6f},{s:.6f},{e:.6f},{n:.6f}&zoom={z}"
        f"&limit=10000{args.properties}"
        for w, s, e, n, z in boxes
    ]
    tokens = accounts_for(store)
    process, host = start_server(store, args.threads)
    stop = threading.Event()
    job_answers: dict[int, int] = {}
    submitter = threading.Thread(
        target=submit_jobs, args=(host, tokens["planner"], stop, job_answers), daemon=True
    )
    try:
        # First request per zoom level builds that level's GeoJSON text: measure it apart.
        cold = []
        for z in range(15, 19):
            path = next(p for p, b in zip(paths, boxes, strict=True) if b[4] == z)
            conn = http.client.HTTPConnection(*host.split(":"))
            started = time.perf_counter()
            conn.request(
                "GET",
                path.replace("limit=10000", "limit=10001"),
                headers={"Authorization": f"Bearer {tokens['viewer']}"},
            )
            conn.getresponse().read()
            cold.append(time.perf_counter() - started)
        if args.with_jobs:
            submitter.start()
        lat, sizes, wall, statuses = run_clients(
            host, paths, args.clients, args.time_limit, tokens["viewer"]
        )
    finally:
        stop.set()
        process.terminate()
        process.wait(timeout=30)
    ms = lat * 1000
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    features = []
    source = FeatureSource(store)
    for w, s, e, n, z in boxes[:200]:
        features.append(source.layer("buildings").query((w, s, e, n), zoom=z).number_returned)
    print(
        f"{label}: {len(lat)} requests, {args.clients} clients, {wall:.1f} s, "
        f"{len(lat) / wall:.0f} req/s\n"
        f"  latency ms: p50 {p50:.1f}  p95 {p95:.1f}  p99 {p99:.1f}  mean {ms.mean():.1f}  "
        f"(goal p95 < 50)\n"
        f"  payload: {statistics.mean(sizes) / 1024:.1f} KiB gzipped on average, "
        f"{statistics.mean(features):.0f} buildings per viewport\n"
        f"  first request per zoom level (builds its cache): "
        f"{', '.join(f'{c * 1000:.0f}' for c in cold)} ms\n"
        f"  answers (status: count): {dict(sorted(statuses.items()))}"
        + (f"; analysis submissions: {dict(sorted(job_answers.items()))}" if args.with_jobs else "")
    )


def bench_alternative(label: str, store: Path, n: int = 100) -> None:
    """Service time in-process: cached query vs GeoPackage bbox read + to_json."""
    source = FeatureSource(store)
    layer = source.layer("buildings")
    boxes = viewports(layer.bounds, n, seed=2)
    for w, s, e, nn, z in boxes[:4]:
        layer.query((w, s, e, nn), zoom=z)  # warm every zoom level
    started = time.perf_counter()
    for w, s, e, nn, z in boxes:
        page = layer.query((w, s, e, nn), zoom=z, limit=10000)
        page.collection()
    cached = (time.perf_counter() - started) / n
    started = time.perf_counter()
    for w, s, e, nn, _ in boxes:
        frame = pyogrio.read_dataframe(store, layer="buildings", bbox=(w, s, e, nn))
        frame.to_json()
    naive = (time.perf_counter() - started) / n
    print(
        f"{label} in-process per viewport: cached index+text {cached * 1000:.2f} ms, "
        f"GeoPackage read + to_json {naive * 1000:.2f} ms ({naive / cached:.0f}× slower)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, help="store to serve (default: a fresh demo)")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--time-limit", type=float, default=60.0, help="seconds per run")
    parser.add_argument("--threads", type=int, default=8, help="waitress worker threads")
    parser.add_argument("--no-tiled", action="store_true", help="skip the 3×3 tiled store")
    parser.add_argument(
        "--with-jobs",
        action="store_true",
        help="keep analysis jobs running and queued (within the queue limit) while reading",
    )
    parser.add_argument(
        "--all-properties",
        action="store_true",
        help="ask for every attribute (the map page asks only for its style fields)",
    )
    args = parser.parse_args()
    args.properties = "" if args.all_properties else "&properties=households,covered"
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "demo.gpkg"
        if args.store is None:
            run_demo(config.DEFAULT_AREA, store_path=store)
        else:  # a copy: the benchmark adds its accounts and may run analyses
            shutil.copyfile(args.store, store)
        bench_server(f"demo ({Store(store).count('buildings')} buildings)", store, args)
        bench_alternative("demo", store)
        if not args.no_tiled:
            tiled = tiled_store(store, Path(tmp) / "tiled.gpkg")
            count = Store(tiled).count("buildings")
            bench_server(f"demo tiled 3×3 ({count} buildings)", tiled, args)
            bench_alternative("tiled", tiled)


if __name__ == "__main__":
    main()
