"""A SQL database as the customer source: a table or a query, read in chunks with SQLAlchemy.

``CHURN_DATA_URI`` is a SQLAlchemy URL plus the platform's own parameters (:data:`OWN_PARAMS`),
which are taken off before the URL reaches the driver (the others, e.g. ``sslmode``, stay):

* ``postgresql://analyst@db.internal:5432/crm?table=customers`` (``schema.table`` works too)
* ``sqlite:////data/crm.db?query_file=/etc/churn/customers.sql``
* ``&updated_column=updated_at``: the source's version is the row count and the newest value
  of that column, two aggregates the database answers from an index; without it the version
  is a hash of every row, read in chunks (correct for in-place updates, but a full read per
  observation: name the column for a large table).
* ``&chunk_rows=50000``: rows per fetch (default :data:`CHUNK_ROWS`).

Rows keep their lineage as file rows do: ``_source`` is the table (or the query file) and the
database without its password, ``_line`` the row's position in the result, 1-based (the order
is the table's key order when ``order_by`` names the key columns, e.g.
``&order_by=customerID,snapshot_month``; otherwise the database's). Values arrive typed by the
database, and validation judges them against the contract like Parquet columns.

Keep the password out of the URI: the drivers read it from the environment or a password file
(``PGPASSWORD`` or ``~/.pgpass`` for Postgres). A password left in it is never shown: every
message and the lineage use :func:`display_url`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from churn_assets.lib.ingestion.errors import SourceError, SourceNotFoundError

if TYPE_CHECKING:
    import pandas as pd

# SQLAlchemy dialects accepted as a data source (a URL scheme starts with one of them, with
# an optional driver: postgresql+psycopg2://).
DIALECTS = ("sqlite", "postgresql", "postgres", "mysql", "mariadb", "mssql", "oracle")
OWN_PARAMS = ("table", "query_file", "updated_column", "chunk_rows", "order_by")
CHUNK_ROWS = 50_000


def is_sql_url(uri: str) -> bool:
    """Whether ``uri`` names a database (its scheme is a known SQLAlchemy dialect)."""
    scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
    return scheme.split("+", 1)[0] in DIALECTS


def display_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for logs, metadata and lineage)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url.split("@", 1)[-1] if "@" in url else url


def first_line(exc: BaseException) -> str:
    """The driver's own first line of a SQLAlchemy error (without SQLAlchemy's wrapping and
    the statement, which may carry values)."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def with_installed_driver(url: str) -> str:
    """A bare ``postgresql://`` means psycopg 3 to SQLAlchemy 2.1; the platform installs
    psycopg2 (dagster-postgres' driver), so it is named when psycopg 3 is absent."""
    import importlib.util

    scheme, sep, rest = url.partition("://")
    if scheme in ("postgresql", "postgres") and importlib.util.find_spec("psycopg") is None:
        return f"postgresql+psycopg2{sep}{rest}"
    return url


@dataclass(frozen=True)
class SqlSource:
    """A table or query of a database, and how to read and version it."""

    url: str  # the SQLAlchemy URL without the platform's parameters
    table: str = ""
    query_file: str = ""
    updated_column: str = ""
    order_by: tuple[str, ...] = ()
    chunk_rows: int = CHUNK_ROWS

    @classmethod
    def from_uri(cls, location: str, params: dict[str, str]) -> SqlSource:
        """The source a parsed ``sql`` data URI names.

        Raises:
            SourceError: neither or both of ``table`` and ``query_file``, a bad ``chunk_rows``.
        """
        table, query_file = params.get("table", ""), params.get("query_file", "")
        shown = display_url(location)
        if bool(table) == bool(query_file):
            raise SourceError(
                f"{shown}: a database source needs exactly one of `table=` (e.g. "
                f"{shown}?table=customers) or `query_file=` (a file holding one SELECT)"
            )
        try:
            chunk_rows = int(params.get("chunk_rows", CHUNK_ROWS))
            if chunk_rows < 1:
                raise ValueError("must be at least 1")
        except ValueError as exc:
            raise SourceError(f"{shown}: chunk_rows={params['chunk_rows']!r}: {exc}") from exc
        order_by = tuple(c.strip() for c in params.get("order_by", "").split(",") if c.strip())
        return cls(
            location, table, query_file, params.get("updated_column", ""), order_by, chunk_rows
        )

    @property
    def description(self) -> str:
        """What is read, from where, without the password."""
        what = f"table {self.table}" if self.table else f"query {self.query_file}"
        return f"{what} in {display_url(self.url)}"

    def _engine(self) -> Any:
        from sqlalchemy import create_engine
        from sqlalchemy.exc import ArgumentError, NoSuchModuleError

        try:
            return create_engine(with_installed_driver(self.url))
        except (ArgumentError, NoSuchModuleError, ImportError) as exc:
            raise SourceError(
                f"{display_url(self.url)}: not a usable database URL ({exc}); the driver of "
                "its dialect must be installed (e.g. postgresql+psycopg2:// with psycopg2)"
            ) from exc

    def _query(self) -> str:
        """The query file's statement (one SELECT, a trailing semicolon dropped)."""
        path = Path(self.query_file)
        if not path.is_file():
            raise SourceNotFoundError(f"query_file {self.query_file}: no such file")
        text = path.read_text(encoding="utf-8").strip().rstrip(";").strip()
        if not text:
            raise SourceError(f"query_file {self.query_file} is empty")
        return text

    def _table(self, engine: Any) -> Any:
        """The table, checked to exist (the error lists the tables there)."""
        import sqlalchemy as sa

        schema, _, name = self.table.rpartition(".")
        inspector = sa.inspect(engine)
        if not inspector.has_table(name, schema=schema or None):
            tables = sorted(inspector.get_table_names(schema=schema or None))
            raise SourceNotFoundError(
                f"{self.description}: no such table; tables there: "
                f"{', '.join(tables[:20]) or 'none'}"
            )
        return sa.Table(name, sa.MetaData(), schema=schema or None, autoload_with=engine)

    def _statement(self, engine: Any) -> Any:
        """What a read executes: the query as written, or the table in ``order_by`` order."""
        import sqlalchemy as sa

        if self.query_file:
            if self.order_by:
                raise SourceError(
                    f"{self.description}: order_by applies to table= sources; write the "
                    "ORDER BY into the query"
                )
            return sa.text(self._query())
        table = self._table(engine)
        unknown = [c for c in self.order_by if c not in table.c]
        if unknown:
            raise SourceError(
                f"{self.description}: order_by names no column {unknown}; columns: "
                f"{', '.join(table.c.keys())}"
            )
        return sa.select(table).order_by(*(table.c[c] for c in self.order_by))

    def _connect(self, engine: Any) -> Any:
        from sqlalchemy.exc import OperationalError

        try:
            return engine.connect()
        except OperationalError as exc:
            reason = first_line(exc)
            raise SourceError(
                f"{display_url(self.url)}: cannot connect ({reason}); check the host, port, "
                "database and credentials (the password from PGPASSWORD or ~/.pgpass)"
            ) from exc

    def chunks(self) -> Iterator[pd.DataFrame]:
        """The rows, ``chunk_rows`` at a time, as the database typed them, under plain ``str``
        column names (a reflected table names its columns with SQLAlchemy's ``quoted_name``, a
        ``str`` subclass that sklearn refuses beside ``str`` names)."""
        import pandas as pd
        from sqlalchemy.exc import DBAPIError

        engine = self._engine()
        try:
            with self._connect(engine) as connection:
                statement = self._statement(engine)
                try:
                    for chunk in pd.read_sql_query(
                        statement, connection, chunksize=self.chunk_rows
                    ):
                        chunk.columns = [str(c) for c in chunk.columns]
                        yield chunk
                except DBAPIError as exc:
                    raise SourceError(
                        f"{self.description}: the read failed: {first_line(exc)}"
                    ) from exc
        finally:
            engine.dispose()

    def read(self) -> pd.DataFrame:
        """Every row, with the lineage columns of file rows (``_source``, ``_line``,
        ``_parse_error``)."""
        import pandas as pd

        from churn_assets.lib.ingestion.readers import LINE_COL, PARSE_ERROR_COL, SOURCE_COL

        parts = [part for part in self.chunks() if len(part)]
        if not parts:
            raise SourceError(f"{self.description}: no rows")
        frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
        frame[SOURCE_COL] = self.description
        frame[LINE_COL] = pd.RangeIndex(1, len(frame) + 1)
        frame[PARSE_ERROR_COL] = None
        return frame

    def version(self) -> tuple[str, int]:
        """A version of what the source holds, and its row count (see the module docstring:
        row count and newest ``updated_column``, else a hash of every row)."""
        if not self.updated_column:
            return self._content_version()
        import sqlalchemy as sa
        from sqlalchemy.exc import DBAPIError

        column = self.updated_column
        engine = self._engine()
        try:
            with self._connect(engine) as connection:
                if self.query_file:
                    source = sa.text(self._query()).columns(sa.column(column)).subquery("q")
                else:
                    source = self._table(engine)
                    if column not in source.c:
                        raise SourceError(
                            f"{self.description}: updated_column {column!r} is not a column; "
                            f"columns: {', '.join(source.c.keys())}"
                        )
                aggregate = sa.select(sa.func.count(), sa.func.max(source.c[column]))
                try:
                    count, newest = connection.execute(aggregate).one()
                except DBAPIError as exc:
                    raise SourceError(
                        f"{self.description}: the version query failed: {first_line(exc)}"
                    ) from exc
        finally:
            engine.dispose()
        digest = f"{self.description}\0{count}\0{newest}"
        return hashlib.sha256(digest.encode()).hexdigest()[:16], int(count)

    def _content_version(self) -> tuple[str, int]:
        from churn_assets.lib.hashing import frame_hash

        digest, rows = hashlib.sha256(self.description.encode()), 0
        for chunk in self.chunks():
            digest.update(frame_hash(chunk).encode())
            rows += len(chunk)
        return digest.hexdigest()[:16], rows
