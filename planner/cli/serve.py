"""The ``planner serve`` command: the web map of a store under waitress."""

from __future__ import annotations

import errno
import ipaddress
import os
import ssl
import sys
from urllib.parse import urlsplit

import click

from planner.cli.common import STORE, main, user_errors, writes
from planner.errors import PlannerError
from planner.store import Store

__all__ = ["serve_command"]


@writes("nothing (a one-time login token in the account tables)")
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
@click.option(
    "--basemap-key",
    default="",
    envvar="PLANNER_BASEMAP_KEY",
    help="Key of the basemap (天地图 tk). Better from $PLANNER_BASEMAP_KEY or the store's "
    "`basemap_key` metadata: a flag is visible to every user of the machine in `ps`.",
)
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
@click.option("--read-only", is_flag=True, help="Refuse analysis runs from the web page.")
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 64))
@click.option(
    "--allowed-host",
    "allowed_hosts",
    multiple=True,
    metavar="NAME",
    help="Another name the server answers to (Host header), e.g. a DNS name; repeatable.",
)
@click.option(
    "--public-view",
    is_flag=True,
    help="Show anonymous visitors stations and grid boundaries (no figures, no contacts).",
)
@click.option(
    "--certfile",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Serve HTTPS with this PEM certificate (and chain); needs --keyfile. Phones give "
    "the phone view (/m) a position and keep it offline only over HTTPS.",
)
@click.option(
    "--keyfile",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="The private key of --certfile (PEM).",
)
@click.option(
    "--trusted-proxy",
    default=None,
    metavar="ADDR",
    help="Address of a reverse proxy that ends TLS in front of this server (e.g. 127.0.0.1): "
    "its X-Forwarded-Proto/-Host/-For headers are believed.",
)
@user_errors
def serve_command(
    store_path,
    host,
    port,
    basemap,
    basemap_key,
    lang,
    read_only,
    threads,
    allowed_hosts,
    public_view,
    certfile,
    keyfile,
    trusted_proxy,
):
    """Serve the web map, REST API and OGC API – Features of STORE.

    With no accounts in STORE, a server on this machine (127.0.0.1, localhost, ::1)
    prints a URL carrying a one-time token that logs the browser in as admin. A server
    on another address needs an admin account first (`planner user add`).

    Phones need HTTPS for the phone view's locate-me and offline copy: give --certfile
    and --keyfile, or put a reverse proxy that ends TLS in front (--trusted-proxy).
    """
    from planner import accounts
    from planner_web import STATIC_DIR, missing_assets
    from planner_web.basemap import basemap_settings
    from planner_web.server import listen_urls

    if bool(certfile) != bool(keyfile):
        msg = "HTTPS needs both --certfile and --keyfile"
        raise PlannerError(msg)
    if certfile and trusted_proxy:
        msg = "give --certfile/--keyfile (HTTPS here) or --trusted-proxy (HTTPS at the proxy)"
        raise PlannerError(msg)
    store = Store(store_path)  # a clear one-line error for a missing or broken store
    loopback = _is_loopback(host)
    users = accounts.list_users(store)
    if not loopback and not any(u.role == "admin" for u in users):
        msg = (
            f"serving on {host} needs an admin account first: "
            f"planner user add {store_path} NAME --role admin"
        )
        raise PlannerError(msg)
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
        "BASEMAP_KEY": basemap_key or str(store.metadata.get("basemap_key") or ""),
        "DEFAULT_LANG": lang,
        "ANALYSIS_ENABLED": not read_only,
        "BIND_HOST": host,
        "ALLOWED_HOSTS": list(allowed_hosts),
        "PUBLIC_VIEW": public_view,
        # Sessions outlive a restart only with a fixed key (kept out of argv, like the tk).
        "SECRET_KEY": os.environ.get("PLANNER_SECRET_KEY") or None,
    }
    basemap_settings(config)  # refuse an unknown basemap or a missing key now
    try:
        server, app = _listen(
            config, host, port, threads, tls=(certfile, keyfile), trusted_proxy=trusted_proxy
        )
    except ssl.SSLError as exc:
        msg = (
            "cannot use --certfile/--keyfile (both PEM, the key the certificate's): "
            f"{exc.reason or exc}"
        )
        raise PlannerError(msg) from None
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            msg = f"port {port} on {host} is in use; choose another with --port"
        else:
            msg = f"cannot listen on {host}:{port}: {exc.strerror or exc}"
        raise PlannerError(msg) from None
    urls = listen_urls(server, host)
    shown = list(urls)
    if loopback and not users:
        # As Jupyter does: the one URL that signs this machine's browser in, once.
        shown[0] = f"{urls[0]}?token={accounts.make_login_token(store)}"
    click.echo(f"serving {store_path} at {'  '.join(shown)}  (Ctrl+C to stop)")
    click.echo(f"OGC API – Features: {urls[0]}ogc/   API docs: {urls[0]}api/docs")
    if loopback and not users:
        click.echo("no accounts yet: the URL above logs in as admin, once (planner user add)")
    from planner_web.extensions import features

    # The layer list (every layer read and counted: ~10 s at 100k buildings) is made now,
    # in the background, so the first page finds it ready.
    warming = features(app).warm()
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    warming.join(timeout=1)
    if warming.is_alive():
        # A layer is mid-read (GDAL, C++) in the background: ending the interpreter under
        # it can abort the process, and finishing it can take seconds. Leave at once, as
        # a kill would; nothing is being written that the store would not survive.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def _is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _listen(
    config: dict,
    host: str,
    port: int,
    threads: int,
    *,
    tls: tuple[str | None, str | None] = (None, None),
    trusted_proxy: str | None = None,
):
    """The app and its waitress server (cheroot for HTTPS); a wildcard bind also answers
    to its interfaces' names."""
    from planner_web import create_app
    from planner_web.server import listen_urls, make_server, make_tls_server

    certfile, keyfile = tls
    if certfile:
        config = {**config, "SESSION_COOKIE_SECURE": True}
    app = create_app(config)
    if certfile and keyfile:
        server = make_tls_server(
            app, host=host, port=port, certfile=certfile, keyfile=keyfile, threads=threads
        )
    else:
        server = make_server(
            app, host=host, port=port, threads=threads, trusted_proxy=trusted_proxy
        )
    if host in ("0.0.0.0", "::", ""):
        names = [urlsplit(u).hostname for u in listen_urls(server, host)]
        hosts = set(app.extensions["planner.allowed_hosts"]) | {n.lower() for n in names if n}
        app.extensions["planner.allowed_hosts"] = frozenset(hosts)
    return server, app
