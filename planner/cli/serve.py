"""The ``planner serve`` command: the web map of a store under waitress."""

from __future__ import annotations

import errno

import click

from planner.cli.common import STORE, main, user_errors
from planner.errors import PlannerError
from planner.store import Store

__all__ = ["serve_command"]


@main.command("serve")
@STORE
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--basemap",
    default=None,
    help="Tile basemap: osm, tianditu (needs --basemap-key), gaode (GCJ-02), or a "
    "{z}/{x}/{y} URL. Default: none (no request leaves the server).",
)
@click.option("--basemap-key", default="", help="Key of the basemap (天地图 tk).")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
@click.option("--read-only", is_flag=True, help="Refuse analysis runs from the web page.")
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 64))
@user_errors
def serve_command(store_path, host, port, basemap, basemap_key, lang, read_only, threads):
    """Serve the web map, REST API and OGC API – Features of STORE."""
    from planner_web import STATIC_DIR, create_app, missing_assets
    from planner_web.basemap import basemap_settings
    from planner_web.server import listen_urls, make_server

    Store(store_path)  # a clear one-line error for a missing or broken store
    missing = missing_assets()
    if missing:
        msg = (
            f"the web map's front-end files are missing ({', '.join(missing)}); "
            "reinstall grid-planner, or run `make vendor` in a checkout"
        )
        raise PlannerError(msg, source=str(STATIC_DIR))
    config = {
        "STORE": str(store_path),
        "BASEMAP": basemap,
        "BASEMAP_KEY": basemap_key,
        "DEFAULT_LANG": lang,
        "ANALYSIS_ENABLED": not read_only,
    }
    basemap_settings(config)  # refuse an unknown basemap or a missing key now
    app = create_app(config)
    try:
        server = make_server(app, host=host, port=port, threads=threads)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            msg = f"port {port} on {host} is in use; choose another with --port"
        else:
            msg = f"cannot listen on {host}:{port}: {exc.strerror or exc}"
        raise PlannerError(msg) from None
    urls = listen_urls(server, host)
    click.echo(f"serving {store_path} at {'  '.join(urls)}  (Ctrl+C to stop)")
    click.echo(f"OGC API – Features: {urls[0]}ogc/   API docs: {urls[0]}api/docs")
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
