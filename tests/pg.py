"""A throwaway PostgreSQL server with PostGIS for the tests (Debian's packages).

Started once per session in a temporary folder, on 127.0.0.1 and a free port, as the
``postgres`` user when run as root (CI runs as root, and ``initdb`` refuses root).
Where PostgreSQL is not installed the fixture fails with the command that installs it:
the PostGIS store is tested wherever it can be.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

#: Debian's server binaries (the newest installed version).
BIN_GLOB = "/usr/lib/postgresql/*/bin"
INSTALL = "apt-get install -y postgresql postgresql-15-postgis-3 (or `make test`)"
DATABASE = "planner_test"


def _bin() -> Path:
    found = sorted(glob.glob(BIN_GLOB), key=lambda p: int(Path(p).parent.name))
    if not found or not (Path(found[-1]) / "initdb").exists():
        msg = f"PostgreSQL is not installed: {INSTALL}"
        raise RuntimeError(msg)
    return Path(found[-1])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A PostgreSQL server in ``folder``; :meth:`url` gives a store URL in a new schema."""

    def __init__(self, folder: Path) -> None:
        self.bin = _bin()
        self.folder = folder
        self.data = folder / "data"
        self.port = _free_port()
        self.user = "postgres" if os.geteuid() == 0 else None
        self.role = "postgres" if self.user else os.environ.get("USER", "postgres")

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        command = [str(a) for a in args]
        if self.user:
            # runuser is in /usr/sbin, which a root shell's PATH may lack (CI's does)
            runuser = shutil.which("runuser") or shutil.which("runuser", path="/usr/sbin:/sbin")
            command = [runuser or "runuser", "-u", self.user, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, cwd=self.folder)
        if done.returncode:
            msg = f"{' '.join(command)} failed: {done.stderr.strip() or done.stdout.strip()}"
            raise RuntimeError(msg)
        return done

    def start(self) -> Server:
        if self.user:
            shutil.chown(self.folder, self.user, self.user)
        self._run(
            self.bin / "initdb",
            "-D",
            self.data,
            "-U",
            self.role,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-locale",
        )
        options = f"-k {self.folder} -p {self.port} -h 127.0.0.1 -c fsync=off"
        self._run(self.bin / "pg_ctl", "-D", self.data, "-o", options, "-w", "-l",
                  self.folder / "log", "start")  # fmt: skip
        self.sql("postgres", f"CREATE DATABASE {DATABASE}")
        self.sql(DATABASE, "CREATE EXTENSION postgis")
        return self

    def stop(self) -> None:
        self._run(self.bin / "pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")

    def sql(self, database: str, statement: str) -> str:
        psql = self.bin / "psql"
        return self._run(
            psql, "-h", "127.0.0.1", "-p", str(self.port), "-U", self.role, "-d", database,
            "-v", "ON_ERROR_STOP=1", "-Atc", statement,
        ).stdout  # fmt: skip

    @property
    def database_url(self) -> str:
        return f"postgresql://{self.role}@127.0.0.1:{self.port}/{DATABASE}"

    def url(self, prefix: str = "t") -> str:
        """A store URL in a schema of its own (each test's store is a fresh schema)."""
        return f"{self.database_url}?schema={prefix}_{uuid.uuid4().hex[:12]}"


def start_server() -> Server:
    folder = Path(tempfile.mkdtemp(prefix="planner-pg-"))
    return Server(folder).start()


def clone_schema(url: str, source: str, target: str) -> None:
    """Copy the store in schema ``source`` of ``url``'s database to a new schema ``target``
    (tables, rows, indexes; each table's row numbering continues where the source's is)."""
    import psycopg

    with psycopg.connect(url.split("?")[0], autocommit=True) as con, con.transaction():
        con.execute(f'CREATE SCHEMA "{target}"')
        tables = con.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s", (source,)
        ).fetchall()
        for (table,) in tables:
            con.execute(
                f'CREATE TABLE "{target}"."{table}" (LIKE "{source}"."{table}" INCLUDING ALL)'
            )
            con.execute(f'INSERT INTO "{target}"."{table}" SELECT * FROM "{source}"."{table}"')
            sequence = con.execute(
                "SELECT pg_get_serial_sequence(attrelid::regclass::text, 'fid') "
                "FROM pg_attribute WHERE attrelid = %s::regclass AND attname = 'fid'",
                (f'"{target}"."{table}"',),
            ).fetchone()
            sequence = sequence and sequence[0]
            if sequence:
                con.execute(
                    f"SELECT setval(%s, coalesce((SELECT max(fid) FROM "
                    f'"{target}"."{table}"), 0) + 1, false)',
                    (sequence,),
                )
