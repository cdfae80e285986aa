"""Readers: one file's bytes to a raw frame, and every file of a store to one frame.

Nothing is dropped on the way in. CSV is read as text (types are the contract's business, in
validation), and a line that cannot be parsed becomes a row whose ``_parse_error`` says why,
so validation can quarantine it with the rest. Every row carries lineage columns
(:data:`LINEAGE_COLUMNS`): its source file, its physical line and the parse error, if any.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import numpy as np
import pandas as pd

from churn_assets.lib.ingestion.errors import (
    SourceFormatError,
    duplicated_columns,
    duplicated_columns_error,
)
from churn_assets.lib.ingestion.months import month_of
from churn_assets.lib.ingestion.stores import FileStore

# Lineage columns added to every raw row; validation drops them from the validated table and
# keeps them on quarantined rows so a person can find the offending line.
SOURCE_COL = "_source"
LINE_COL = "_line"
PARSE_ERROR_COL = "_parse_error"
LINEAGE_COLUMNS = (SOURCE_COL, LINE_COL, PARSE_ERROR_COL)
# The `_line` of the one row that stands for a whole file no line of which could be read.
FILE_LINE = 0
FILE_REJECTED = "whole file rejected: "


def _decode(data: bytes, name: str) -> tuple[str, list[tuple[int, str]]]:
    """Decode UTF-8, setting aside (line number, text) of lines that are not UTF-8."""
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError:
        pass
    good: list[str] = []
    bad: list[tuple[int, str]] = []
    for number, line in enumerate(data.split(b"\n"), start=1):
        try:
            good.append(line.decode("utf-8-sig" if number == 1 else "utf-8"))
        except UnicodeDecodeError as exc:
            shown = line.decode("utf-8", errors="replace")[:200]
            bad.append((number, f"not UTF-8 ({exc.reason} at byte {exc.start}): {shown!r}"))
            # An empty line keeps the parser's physical line numbers right (it skips blanks).
            good.append("")
    if not good or not good[0].strip():
        raise SourceFormatError(f"{name}: the header line is not valid UTF-8")
    return "\n".join(good), bad


def read_csv_text(data: bytes, name: str) -> pd.DataFrame:
    """Parse CSV bytes as text columns, keeping unparseable lines as error rows.

    Returns:
        The table (all columns as strings, blanks kept as empty strings) plus lineage
        columns; rows that could not be parsed carry their reason in ``_parse_error``.

    Raises:
        SourceFormatError: for an empty file or one without a header line.
    """
    import pyarrow as pa
    import pyarrow.csv as pcsv

    if not data.strip():
        raise SourceFormatError(f"{name}: the file is empty ({len(data)} bytes)")
    text, bad = _decode(data, name)
    header_line = text.split("\n", 1)[0]
    try:
        columns = list(pd.read_csv(io.StringIO(header_line), nrows=0).columns)
    except pd.errors.EmptyDataError as exc:
        raise SourceFormatError(f"{name}: the first line is blank, expected a header") from exc
    # pandas renames a repeated name (`gender.1`); the raw header says what the file holds.
    duplicated = duplicated_columns(next(csv.reader([header_line]), []))
    if duplicated:
        raise SourceFormatError(duplicated_columns_error(name, duplicated))

    def on_invalid(row: Any) -> str:
        bad.append(
            (
                row.number if row.number is not None else -1,
                f"malformed CSV line: expected {row.expected_columns} fields, "
                f"got {row.actual_columns}: {row.text[:200]!r}",
            )
        )
        return "skip"

    try:
        table = pcsv.read_csv(
            io.BytesIO(text.encode("utf-8")),
            # One thread keeps physical line numbers available to the invalid-row handler.
            read_options=pcsv.ReadOptions(use_threads=False, block_size=1 << 24),
            parse_options=pcsv.ParseOptions(invalid_row_handler=on_invalid),
            convert_options=pcsv.ConvertOptions(
                column_types={c: pa.string() for c in columns},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as exc:
        raise SourceFormatError(f"{name}: not a readable CSV file: {exc}") from exc
    frame = table.to_pandas()
    # pyarrow numbers data lines after the header from 1; report physical file lines.
    frame[LINE_COL] = pd.RangeIndex(2, len(frame) + 2)
    if bad:
        frame = _append_parse_errors(frame, bad, columns)
    frame[SOURCE_COL] = name
    return frame


def _append_parse_errors(
    frame: pd.DataFrame, bad: list[tuple[int, str]], columns: list[str]
) -> pd.DataFrame:
    # Good rows' physical line numbers skip over every line set aside before them.
    skipped = np.array(sorted(n for n, _ in bad if n > 0), dtype=np.int64)
    if len(skipped):
        candidates = np.arange(2, len(frame) + 2 + len(skipped), dtype=np.int64)
        frame[LINE_COL] = np.setdiff1d(candidates, skipped)[: len(frame)]
    errors = pd.DataFrame({c: [None] * len(bad) for c in columns})
    errors[LINE_COL] = [n for n, _ in bad]
    errors[PARSE_ERROR_COL] = [reason for _, reason in bad]
    return pd.concat([frame, errors], ignore_index=True)


def read_table(data: bytes, name: str) -> pd.DataFrame:
    """Read one CSV or Parquet file's bytes into a raw frame with lineage columns.

    Raises:
        SourceFormatError: the file is empty, of an unknown type, or corrupt.
    """
    lowered = name.lower()
    if lowered.endswith(".csv"):
        frame = read_csv_text(data, name)
    elif lowered.endswith(".parquet"):
        if not data:
            raise SourceFormatError(f"{name}: the file is empty (0 bytes)")
        try:
            import pyarrow.parquet as pq

            # Checked on the schema first: pyarrow cannot even read a repeated column.
            names = pq.ParquetFile(io.BytesIO(data)).schema_arrow.names
            duplicated = duplicated_columns([str(n) for n in names])
            if duplicated:
                raise SourceFormatError(duplicated_columns_error(name, duplicated))
            frame = pd.read_parquet(io.BytesIO(data))
        except SourceFormatError:
            raise
        except Exception as exc:  # pyarrow raises several error types for corrupt files
            raise SourceFormatError(f"{name}: not a readable Parquet file: {exc}") from exc
        frame[LINE_COL] = pd.RangeIndex(1, len(frame) + 1)
        frame[SOURCE_COL] = name
    else:
        raise SourceFormatError(f"{name}: unsupported file type (use .csv or .parquet)")
    duplicated = duplicated_columns([str(c) for c in frame.columns])
    if duplicated:
        raise SourceFormatError(duplicated_columns_error(name, duplicated))
    if PARSE_ERROR_COL not in frame:
        frame[PARSE_ERROR_COL] = None
    return frame


def add_snapshot_from_name(frame: pd.DataFrame, name: str, column: str | None) -> pd.DataFrame:
    """Fill a missing snapshot column from the file name's month (:func:`months.month_of`)."""
    if column is None or column in frame.columns:
        return frame
    month = month_of(name)
    if month is not None:
        frame[column] = f"{month}-01"
    return frame


def rejected_file_row(name: str, reason: str) -> pd.DataFrame:
    """The one raw row that stands for a file no line of which could be read.

    It carries the reason in ``_parse_error`` and line :data:`FILE_LINE`, so validation
    quarantines it like any unparseable line and the rejected-share check counts the file.
    """
    return pd.DataFrame(
        {SOURCE_COL: [name], LINE_COL: [FILE_LINE], PARSE_ERROR_COL: [FILE_REJECTED + reason]}
    )


def read_files(
    store: FileStore, event_time: str | None = None
) -> tuple[pd.DataFrame, list[str], dict[str, str]]:
    """Read and concatenate every file of a store, in name order.

    In a folder of several files, a file that cannot be read at all (empty, header only,
    corrupt, a repeated header column) does not stop the others: it becomes one raw row
    (:func:`rejected_file_row`) that validation quarantines with its reason, so the blocking
    rejected-share check counts it. When every file is unreadable, or the source is a single
    file, the error is raised.

    Returns:
        The raw frame, the names of the files read, and ``{rejected file: reason}``.
    """
    files = store.list_files()
    frames, names, rejected = [], [], {}
    for f in files:
        try:
            frame = read_table(store.read_bytes(f), f.name)
        except SourceFormatError as exc:
            if len(files) == 1:
                raise
            rejected[f.name] = str(exc)
            continue
        frames.append(add_snapshot_from_name(frame, f.name, event_time))
        names.append(f.name)
    if not frames:
        raise SourceFormatError(
            f"{store.description}: no readable file: " + "; ".join(rejected.values())
        )
    frames.extend(rejected_file_row(name, reason) for name, reason in rejected.items())
    raw = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return raw, names, rejected
