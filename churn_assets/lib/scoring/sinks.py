"""Where batch scores go: Parquet files in a folder or bucket prefix, or a SQL table.

Both are idempotent per run: a sink belongs to one Dagster run id, and starting it removes what
an earlier attempt of the same run wrote (a retried step, a re-executed run), so a run's
scores are written exactly once whatever happened before; other runs' scores are untouched.

* Parquet: ``<uri>/run_id=<run>/part-00000.parquet``…, one file per chunk (a Hive-style
  partition column, so ``pd.read_parquet(uri)`` or any engine reads every run, filterable by
  ``run_id``).
* SQL: a SQLAlchemy URL with ``table=`` (``postgresql://…/crm?table=churn_scores``); rows
  carry a ``run_id`` column; the table is created on first write; a run's earlier rows are
  deleted in the same transaction as nothing else, before the first chunk.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from churn_assets.lib.ingestion.errors import SourceError

if TYPE_CHECKING:
    import pandas as pd

    from churn_assets.lib.ingestion.uri import DataURI

RUN_COLUMN = "run_id"


class SinkError(SourceError):
    """A sink cannot be written (bad URI, store away, a table of another shape)."""


class Sink(Protocol):
    """A destination for one run's scores."""

    description: str

    def start(self) -> int:
        """Remove what an earlier attempt of this run wrote; how many rows it removed."""

    def write(self, chunk: pd.DataFrame) -> None:
        """Append one chunk of scores."""


@dataclass
class ParquetSink:
    """Parquet files under a local folder or an ``s3://`` prefix, one folder per run."""

    uri: str
    run_id: str
    parts: int = field(default=0, init=False)

    @property
    def folder(self) -> Any:
        from upath import UPath

        return UPath(self.uri) / f"{RUN_COLUMN}={self.run_id}"

    @property
    def description(self) -> str:
        return str(self.folder)

    def start(self) -> int:
        import pyarrow.parquet as pq

        folder, removed = self.folder, 0
        try:
            if folder.exists():
                for part in folder.glob("part-*.parquet"):
                    with part.open("rb") as f:
                        removed += pq.ParquetFile(f).metadata.num_rows
                    part.unlink()
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SinkError(f"{self.description}: cannot prepare the sink: {exc}") from exc
        return removed

    def write(self, chunk: pd.DataFrame) -> None:
        path = self.folder / f"part-{self.parts:05d}.parquet"
        try:
            with path.open("wb") as f:
                # The run is the folder's partition value; a column of the same name would
                # make readers of the whole sink fail to merge the two.
                chunk.drop(columns=RUN_COLUMN, errors="ignore").to_parquet(f, index=False)
        except OSError as exc:
            raise SinkError(f"{path}: cannot write scores: {exc}") from exc
        self.parts += 1


@dataclass
class SqlSink:
    """A table of a database; every row names its run."""

    url: str
    table: str
    run_id: str
    _engine: Any = field(default=None, init=False, repr=False)

    @property
    def description(self) -> str:
        from churn_assets.lib.ingestion.sql import display_url

        return f"table {self.table} in {display_url(self.url)}"

    def _connect(self) -> Any:
        from sqlalchemy import create_engine

        from churn_assets.lib.ingestion.sql import with_installed_driver

        if self._engine is None:
            self._engine = create_engine(with_installed_driver(self.url))
        return self._engine

    def _table(self) -> tuple[str | None, str]:
        schema, _, name = self.table.rpartition(".")
        return schema or None, name

    def start(self) -> int:
        import sqlalchemy as sa
        from sqlalchemy.exc import SQLAlchemyError

        engine = self._connect()
        schema, name = self._table()
        try:
            if not sa.inspect(engine).has_table(name, schema=schema):
                return 0
            table = sa.Table(name, sa.MetaData(), schema=schema, autoload_with=engine)
            if RUN_COLUMN not in table.c:
                raise SinkError(
                    f"{self.description} exists without a {RUN_COLUMN!r} column: it is not a "
                    "scores table of this platform; name another table"
                )
            with engine.begin() as connection:
                done = connection.execute(table.delete().where(table.c[RUN_COLUMN] == self.run_id))
            return int(done.rowcount or 0)
        except SQLAlchemyError as exc:
            raise SinkError(f"{self.description}: cannot prepare the sink: {exc}") from exc

    def write(self, chunk: pd.DataFrame) -> None:
        from sqlalchemy.exc import SQLAlchemyError

        schema, name = self._table()
        try:
            chunk.to_sql(name, self._connect(), schema=schema, if_exists="append", index=False)
        except SQLAlchemyError as exc:
            from churn_assets.lib.ingestion.sql import first_line

            raise SinkError(f"{self.description}: cannot write scores: {first_line(exc)}") from exc

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


REJECTED_SUFFIX = "_rejected"


def open_sink(uri: str, run_id: str, suffix: str = "") -> ParquetSink | SqlSink:
    """The sink a URI names: a database URL with ``table=``, else a folder or ``s3://`` prefix;
    ``suffix`` names a companion (the table or folder name plus it, e.g. ``_rejected``).

    Raises:
        SinkError: a database URL without ``table=``, or an empty URI.
    """
    from churn_assets.lib.ingestion.sql import display_url, is_sql_url

    uri = uri.strip()
    if not uri:
        raise SinkError("no sink: set `sink_uri` to a folder, an s3:// prefix or a database table")
    if is_sql_url(uri):
        from churn_assets.lib.ingestion.uri import parse_data_uri

        parsed = parse_data_uri(uri)
        table = parsed.params.get("table", "")
        if not table:
            raise SinkError(
                f"{display_url(uri)}: a database sink needs `table=` (e.g. ?table=churn_scores)"
            )
        return SqlSink(parsed.location, table + suffix, run_id)
    return ParquetSink(uri.rstrip("/") + suffix, run_id)


def check_apart(source: DataURI, sink: ParquetSink | SqlSink) -> None:
    """Refuse a SQLite sink in the source's own file: SQLite locks the whole file while the
    source's chunks are streamed, so the first write would wait and fail.

    Raises:
        SinkError: naming both and the fix.
    """
    if not isinstance(sink, SqlSink) or source.scheme != "sql":
        return
    a, b = source.location.partition("?")[0], sink.url.partition("?")[0]
    if a.startswith("sqlite") and a == b:
        raise SinkError(
            f"{sink.description} is in the source's SQLite file, which SQLite locks while the "
            "source is read: write the scores to another file (or a server database)"
        )
