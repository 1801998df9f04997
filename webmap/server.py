"""Run the app under waitress: in the foreground (``planner serve``) or in a thread (tests)."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from flask import Flask
from waitress.server import create_server

#: Worker threads: requests are short (an index query and a string join), so a few suffice.
THREADS = 8


@dataclass
class RunningServer:
    """A waitress server running in a background thread."""

    server: object
    thread: threading.Thread
    url: str

    def stop(self) -> None:
        """Finish the requests being served, close the sockets and wait for the thread."""
        # Worker threads first: a worker finishing after close() would write to a closed pipe.
        self.server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)
        self.server.close()
        self.thread.join(timeout=10)


def make_server(app: Flask, *, host: str = "127.0.0.1", port: int = 5000, threads: int = THREADS):
    """A waitress server for ``app`` bound to ``host:port`` (port 0 = a free port)."""
    # ident is the Server header; no version number in it.
    return create_server(app, host=host, port=port, threads=threads, ident="grid-planner")


def url_of(server: object, host: str) -> str:
    """The http URL a waitress server answers at."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{server.effective_port}/"


def start_background(app: Flask, *, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """Start ``app`` on a free port in a daemon thread; ``.stop()`` ends it."""
    server = make_server(app, host=host, port=port)
    thread = threading.Thread(target=server.run, name="waitress", daemon=True)
    thread.start()
    return RunningServer(server, thread, url_of(server, host))
