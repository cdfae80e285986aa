"""Where raw customer data comes from: the simulator, local files, an S3 prefix, or a
database table or query (:mod:`.sql`).

A source is named by one URI (``CHURN_DATA_URI``, parsed by :mod:`.uri`). The simulator
generates its rows; files are listed by a store (:mod:`.stores`: local path or S3 prefix) and
read by :mod:`.readers`, which keep every line and add lineage columns. This module joins them:
:func:`load_raw` reads a whole source, :func:`source_version` versions one without reading it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from churn_assets.lib.ingestion.readers import (
    FILE_LINE,
    LINE_COL,
    PARSE_ERROR_COL,
    SOURCE_COL,
    read_files,
)
from churn_assets.lib.ingestion.stores import fingerprint, open_store
from churn_assets.lib.ingestion.uri import DataURI, simulator_config


@dataclass
class RawLoad:
    """What one read of a source produced."""

    frame: pd.DataFrame
    files: list[str]
    description: str
    # Unreadable file -> reason; each is also one row of the frame, quarantined downstream.
    rejected: dict[str, str] = field(default_factory=dict)

    @property
    def unparseable_lines(self) -> int:
        """Rows that stand for a line the reader could not parse (validation quarantines them)."""
        lines = self.frame[PARSE_ERROR_COL].notna() & self.frame[LINE_COL].ne(FILE_LINE)
        return int(lines.sum())


def source_version(uri: DataURI, s3_client: Callable[[], Any] | None = None) -> tuple[str, int]:
    """A cheap version of a source (no data read, except for a database table without an
    ``updated_column``): fingerprint and number of files (of rows, for a database)."""
    if uri.scheme == "sim":
        config = simulator_config(uri)
        return hashlib.sha256(repr(config).encode()).hexdigest()[:16], 0
    if uri.scheme == "sql":
        from churn_assets.lib.ingestion.sql import SqlSource

        return SqlSource.from_uri(uri.location, uri.params).version()
    files = open_store(uri, s3_client).list_files()
    return fingerprint(files), len(files)


def load_raw(
    uri: DataURI, event_time: str | None = None, s3_client: Callable[[], Any] | None = None
) -> RawLoad:
    """Read a whole source into one raw frame with lineage columns."""
    if uri.scheme == "sim":
        from churn_assets.lib.ingestion.simulator import simulate

        config = simulator_config(uri)
        frame = simulate(config).snapshots
        frame[SOURCE_COL] = "simulator"
        frame[LINE_COL] = pd.RangeIndex(1, len(frame) + 1)
        frame[PARSE_ERROR_COL] = None
        return RawLoad(frame, [], f"simulator {config}")
    if uri.scheme == "sql":
        from churn_assets.lib.ingestion.sql import SqlSource

        source = SqlSource.from_uri(uri.location, uri.params)
        return RawLoad(source.read(), [], source.description)
    store = open_store(uri, s3_client)
    frame, names, rejected = read_files(store, event_time)
    return RawLoad(frame, names, store.description, rejected)
