"""An embedded Postgres 16 for the local team stack and its tests (the ``pgserver`` wheel).

No root, Docker or system package: ``pgserver`` ships the Postgres binaries and runs them on a
Unix socket inside the data folder. A team deployment points the same settings at a managed
Postgres instead; only the URLs change (docs/deployment.md).

Every URL this module hands out names the psycopg2 driver (``postgresql+psycopg2://``): with
SQLAlchemy 2.1 a bare ``postgresql://`` means psycopg 3, on which dagster-postgres' ``NOTIFY``
statements fail with a syntax error.
"""

from __future__ import annotations

import contextlib
import logging
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DRIVER = "postgresql+psycopg2"
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


@dataclass(frozen=True)
class Postgres:
    """A running Postgres server reachable through ``socket_dir``."""

    data_dir: Path
    socket_dir: str

    def url(self, database: str = "postgres") -> str:
        """A SQLAlchemy URL of ``database`` (Dagster, MLflow and Optuna all take this form)."""
        return f"{DRIVER}://postgres:@/{database}?host={self.socket_dir}"

    def params(self, database: str = "postgres") -> dict[str, str]:
        """The same as discrete fields (dagster.yaml's ``postgres_db`` block)."""
        return {
            "username": "postgres",
            "password": "",
            "hostname": self.socket_dir,
            "db_name": database,
        }

    def create_database(self, name: str, template: str | None = None) -> str:
        """Create ``name`` unless it exists (optionally copied from ``template``); its URL."""
        if not _NAME.match(name):
            raise ValueError(f"{name!r} is not a plain Postgres database name (a-z, 0-9, _)")
        with self._connect() as conn, conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone() is None:
                clause = f" TEMPLATE {template}" if template else ""
                cur.execute(f"CREATE DATABASE {name}{clause}")
                log.info("created database %s%s", name, clause)
        return self.url(name)

    def databases(self) -> list[str]:
        """The user databases on the server."""
        with self._connect() as conn, conn.cursor() as cur:
            cur.execute("SELECT datname FROM pg_database WHERE NOT datistemplate ORDER BY 1")
            return [row[0] for row in cur.fetchall() if row[0] != "postgres"]

    def query(self, database: str, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows of one read-only query (tests and ``team status`` read the stores this way)."""
        with self._connect(database) as conn, conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall()

    @contextlib.contextmanager
    def _connect(self, database: str = "postgres"):
        import psycopg2

        conn = psycopg2.connect(dbname=database, user="postgres", host=self.socket_dir)
        conn.autocommit = True  # CREATE DATABASE cannot run inside a transaction
        try:
            yield conn
        finally:
            conn.close()


def start(data_dir: Path, keep_running: bool = True) -> Postgres:
    """Start (or find running) the server whose data lives in ``data_dir``.

    Args:
        data_dir: Created and initialised on first use; its parent must exist.
        keep_running: Leave the server up when this process exits (the team stack, which
            ``team down`` stops); ``False`` stops it at exit (tests).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR not set
        import pgserver
        from pgserver.postgres_server import PostgresServer

        # pgserver caches one handle per data folder for the life of the process (private
        # `_instances`); a handle whose server was stopped since (``stop``, another process)
        # would hand out a dead socket, so it is dropped and the server started again.
        folder = Path(data_dir).expanduser().resolve()
        if folder in PostgresServer._instances and not (folder / "postmaster.pid").exists():
            PostgresServer._instances.pop(folder, None)  # a clean stop removes postmaster.pid
        server = pgserver.get_server(data_dir, cleanup_mode=None if keep_running else "stop")
    uri = server.get_uri()
    socket_dir = uri.split("host=", 1)[1]
    log.info("postgres on %s (pid %s)", socket_dir, server.get_pid())
    return Postgres(Path(data_dir).resolve(), socket_dir)


def stop(data_dir: Path) -> bool:
    """Stop the server of ``data_dir`` if it runs (fast shutdown); whether it was running."""
    import os

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver
        from pgserver.postgres_server import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(Path(data_dir).resolve())
    if info is None or not info.is_running():
        return False
    user = (
        "pgserver" if os.geteuid() == 0 else None
    )  # pgserver runs Postgres as that user under root
    pgserver.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=Path(data_dir).resolve(), user=user)
    return True
