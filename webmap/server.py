"""Run the app under waitress: in the foreground (``planner serve``) or in a thread (tests).

Over HTTPS (``planner serve --certfile --keyfile``: phones give a position and run a
service worker only on a secure page) the app runs under cheroot, whose TLS adapter
waitress lacks; behind a reverse proxy that ends TLS, waitress takes the scheme and
host from the proxy's ``X-Forwarded-*`` headers when told to trust it.
"""

from __future__ import annotations

import logging
import socket
import threading
from dataclasses import dataclass, field

from flask import Flask
from waitress.server import create_server

__all__ = [
    "THREADS",
    "RunningServer",
    "TLSServer",
    "listen_urls",
    "make_server",
    "make_tls_server",
    "run_in_background",
    "start_background",
    "url_of",
]

#: Worker threads: requests are short (an index query and a string join), so a few suffice.
THREADS = 8


@dataclass
class RunningServer:
    """A waitress server running in a background thread."""

    server: object
    thread: threading.Thread | None
    url: str
    stopping: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        """Serve until :meth:`stop` (the thread's target)."""
        try:
            self.server.run()
        except OSError:
            # stop() closes the sockets under the loop's select(): EBADF is how it ends
            # (as webtest's StopableWSGIServer has it); any other time it is an error.
            if not self.stopping.is_set():
                raise

    def stop(self) -> None:
        """Finish the requests being served, close the sockets and wait for the thread."""
        self.stopping.set()
        # Worker threads first: a worker finishing after close() would write to a closed pipe.
        self.server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)
        self.server.close()
        self.thread.join(timeout=10)


def make_server(
    app: Flask,
    *,
    host: str = "127.0.0.1",
    port: int = 5000,
    threads: int = THREADS,
    trusted_proxy: str | None = None,
):
    """A waitress server for ``app`` bound to ``host:port`` (port 0 = a free port).

    Waitress warns once per request that waits for a worker ("Task queue depth is N"):
    under load that is a line per request and says nothing an operator can act on.

    ``trusted_proxy`` is the address of a reverse proxy (nginx, Caddy) in front: its
    ``X-Forwarded-Proto``, ``-Host`` and ``-For`` are believed (so that the app sees the
    https address the browser used, and sends Secure cookies); anyone else's are dropped.
    """
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    proxy = {}
    if trusted_proxy:
        proxy = {
            "trusted_proxy": trusted_proxy,
            "trusted_proxy_count": 1,
            "trusted_proxy_headers": {"x-forwarded-proto", "x-forwarded-host", "x-forwarded-for"},
            "clear_untrusted_proxy_headers": True,
        }
    # ident is the Server header; no version number in it.
    return create_server(app, host=host, port=port, threads=threads, ident="grid-planner", **proxy)


class TLSServer:
    """The app under cheroot over HTTPS, with waitress' ``run``/``close``/``effective_port``.

    Parameters
    ----------
    app
        The application.
    host, port
        Where to listen (port 0 = a free port); bound when made.
    certfile, keyfile
        The PEM certificate (with its chain) and private key.
    threads
        Worker threads.

    Raises
    ------
    OSError
        If the address cannot be bound.
    ssl.SSLError, FileNotFoundError
        If the certificate or key cannot be read or do not match.
    """

    scheme = "https"

    def __init__(
        self,
        app: Flask,
        *,
        host: str,
        port: int,
        certfile: str,
        keyfile: str,
        threads: int = THREADS,
    ) -> None:
        from cheroot import wsgi
        from cheroot.ssl.builtin import BuiltinSSLAdapter

        adapter = BuiltinSSLAdapter(certfile, keyfile)
        self._server = wsgi.Server(
            (host, port), app, numthreads=threads, server_name="grid-planner"
        )
        self._server.ssl_adapter = adapter
        self._server.prepare()

    @property
    def effective_port(self) -> int:
        """The port listened on."""
        return int(self._server.bind_addr[1])

    def run(self) -> None:
        """Serve until :meth:`close` (or Ctrl+C)."""
        self._server.serve()

    def close(self) -> None:
        """Stop listening and end the worker threads."""
        self._server.stop()


def make_tls_server(
    app: Flask, *, host: str, port: int, certfile: str, keyfile: str, threads: int = THREADS
) -> TLSServer:
    """An HTTPS server for ``app`` (see :class:`TLSServer`)."""
    return TLSServer(app, host=host, port=port, certfile=certfile, keyfile=keyfile, threads=threads)


def url_of(server: object, host: str) -> str:
    """The URL a server answers at (https for a :class:`TLSServer`)."""
    shown = f"[{host}]" if ":" in host else host
    scheme = getattr(server, "scheme", "http")
    return f"{scheme}://{shown}:{server.effective_port}/"


def listen_urls(server: object, host: str) -> list[str]:
    """The URLs a server bound to ``host`` answers at.

    A wildcard address (``0.0.0.0``, ``::`` or empty) listens on every interface: the
    URLs are then loopback, the machine's host name and its other IP addresses.
    """
    if host not in ("0.0.0.0", "::", ""):
        return [url_of(server, host)]
    family = socket.AF_INET6 if host == "::" else socket.AF_INET
    hostname = socket.gethostname()
    names = ["127.0.0.1" if family == socket.AF_INET else "::1", hostname]
    try:
        infos = socket.getaddrinfo(hostname, None, family, socket.SOCK_STREAM)
        names += [info[4][0] for info in infos]
    except OSError:
        pass
    # The address of the interface that routes outwards (a UDP connect sends nothing).
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 9) if family == socket.AF_INET else ("fd00::1", 9))
            names.append(probe.getsockname()[0])
        except OSError:
            pass
    loopback = ("127.", "::1")
    names = names[:2] + [n for n in names[2:] if not n.startswith(loopback)]
    return [url_of(server, name) for name in dict.fromkeys(names)]


def start_background(app: Flask, *, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """Start ``app`` on a free port in a daemon thread; ``.stop()`` ends it."""
    return run_in_background(make_server(app, host=host, port=port), host)


def run_in_background(server, host: str = "127.0.0.1") -> RunningServer:
    """Run a server of :func:`make_server` in a daemon thread; ``.stop()`` ends it."""
    running = RunningServer(server, None, url_of(server, host))
    running.thread = threading.Thread(target=running.run, name="waitress", daemon=True)
    running.thread.start()
    return running
