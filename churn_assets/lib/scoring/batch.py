"""Score a whole table with the champion, chunk by chunk, into a sink.

Memory stays flat in the number of rows: a chunk is read, validated against the contract (the
target column optional: customers to score have no outcome yet), scored by the champion's
compiled scorer (the service's), explained (optionally) and written before the next is read.
Rows that break the contract are not scored and not dropped silently: they are counted with
their reasons and written to the sink's ``_rejected`` companion (source, row id and reasons
per row; the row's other fields are not copied).

Chunks come from :func:`source_chunks`: a database in ``chunk_rows`` fetches, a Parquet file
by record batches, a CSV file whole (then sliced), the simulator whole (then sliced).
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from churn_assets.lib.contract import DataContract
    from churn_assets.lib.ingestion.uri import DataURI
    from churn_assets.lib.monitoring.champion import Champion
    from churn_assets.lib.scoring.sinks import Sink

CHUNK_ROWS = 50_000


def scoring_contract(contract: DataContract) -> DataContract:
    """The contract with its target column optional (validated when present)."""
    schema = contract.schema.update_column(contract.target.column, required=False)
    return dataclasses.replace(contract, schema=schema)


def _sliced(frame: pd.DataFrame, rows: int) -> Iterator[pd.DataFrame]:
    for start in range(0, len(frame), rows):
        yield frame.iloc[start : start + rows]


def source_chunks(
    uri: DataURI, chunk_rows: int = CHUNK_ROWS, s3_client: Callable[[], Any] | None = None
) -> Iterator[pd.DataFrame]:
    """The source's rows ``chunk_rows`` at a time, each with the lineage columns
    (``_source``, ``_line``, ``_parse_error``) that ``sources.load_raw`` adds."""
    import io

    import pandas as pd

    from churn_assets.lib.ingestion.readers import LINE_COL, PARSE_ERROR_COL, SOURCE_COL, read_table
    from churn_assets.lib.ingestion.stores import open_store

    if uri.scheme == "sql":
        from churn_assets.lib.ingestion.sql import SqlSource

        source = SqlSource.from_uri(uri.location, {**uri.params, "chunk_rows": str(chunk_rows)})
        line = 1
        for chunk in source.chunks():
            chunk[SOURCE_COL] = source.description
            chunk[LINE_COL] = pd.RangeIndex(line, line + len(chunk))
            chunk[PARSE_ERROR_COL] = None
            line += len(chunk)
            yield chunk
        return
    if uri.scheme == "sim":
        from churn_assets.lib.ingestion.sources import load_raw

        yield from _sliced(load_raw(uri).frame, chunk_rows)
        return
    store = open_store(uri, s3_client)
    for file in store.list_files():
        if not file.name.lower().endswith(".parquet"):
            yield from _sliced(read_table(store.read_bytes(file), file.name), chunk_rows)
            continue
        import pyarrow.parquet as pq

        line = 1
        parquet = pq.ParquetFile(io.BytesIO(store.read_bytes(file)))
        for batch in parquet.iter_batches(batch_size=chunk_rows):
            chunk = batch.to_pandas()
            chunk[SOURCE_COL] = file.name
            chunk[LINE_COL] = pd.RangeIndex(line, line + len(chunk))
            chunk[PARSE_ERROR_COL] = None
            line += len(chunk)
            yield chunk


@dataclass
class ScoringRun:
    """What one scoring run did."""

    rows: int = 0
    scored: int = 0
    rejected: int = 0
    chunks: int = 0
    replaced: int = 0  # rows an earlier attempt of the same run had written, removed first
    seconds: float = 0.0
    reasons: Counter = field(default_factory=Counter)  # problem kind -> rows
    churners: int = 0  # scored rows at or above the decision threshold
    tiers: Counter = field(default_factory=Counter)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def score_source(
    chunks: Iterator[pd.DataFrame],
    contract: DataContract,
    champion: Champion,
    sink: Sink,
    rejected_sink: Sink,
    *,
    run_id: str,
    explainer: Any | None = None,
    top_k: int = 0,
    log: Callable[[str], None] = lambda _: None,
) -> ScoringRun:
    """Validate, score and write every chunk (see the module docstring).

    Raises:
        MissingColumnsError: a chunk lacks a required contract column (named, with the fix).
        SinkError: a sink cannot be prepared or written.
    """
    from churn_assets.lib.ingestion.readers import LINE_COL, SOURCE_COL
    from churn_assets.lib.ingestion.validation import REASONS_COL, validate_frame
    from churn_assets.lib.monitoring.scoring import score_batch
    from churn_assets.lib.scoring.sinks import RUN_COLUMN

    started = time.monotonic()
    scoring = scoring_contract(contract)
    summary = ScoringRun()
    summary.replaced = sink.start()
    rejected_sink.start()
    for chunk in chunks:
        result = validate_frame(chunk, scoring, source=str(chunk[SOURCE_COL].iloc[0]))
        summary.rows += len(chunk)
        summary.chunks += 1
        if len(result.quarantined):
            bad = result.quarantined
            counts = result.reason_counts()
            summary.reasons.update(dict(zip(counts["problem"], counts["rows"], strict=True)))
            summary.rejected += len(bad)
            rejected_sink.write(
                bad[[SOURCE_COL, LINE_COL, REASONS_COL]].assign(**{RUN_COLUMN: run_id})
            )
        if len(result.valid):
            scores = score_batch(result.valid, contract, champion, explainer=explainer, top_k=top_k)
            scores[RUN_COLUMN] = run_id
            sink.write(scores)
            summary.scored += len(scores)
            summary.churners += int(scores["churn"].sum())
            summary.tiers.update(scores["risk_tier"].value_counts().to_dict())
        summary.seconds = time.monotonic() - started
        log(
            f"chunk {summary.chunks}: {summary.rows:,} rows read, {summary.scored:,} scored, "
            f"{summary.rejected:,} rejected ({summary.rows_per_second:,.0f} rows/s)"
        )
    summary.seconds = time.monotonic() - started
    return summary
