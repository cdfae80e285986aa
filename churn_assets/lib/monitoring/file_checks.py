"""Can this file be a monthly batch? Cheap checks on its name and on bytes already in memory,
judged before ingestion parses anything (row-level problems are left to validation, which
quarantines malformed lines downstream)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import PurePosixPath

from churn_assets.lib.ingestion.errors import duplicated_columns, duplicated_columns_error
from churn_assets.lib.ingestion.months import month_of, months_in_name
from churn_assets.lib.ingestion.stores import SUPPORTED_SUFFIXES

# Binary content (gzip, xlsx, UTF-16 text) shows NUL bytes early; `git` and `file` look at
# about this much too.
_BINARY_SNIFF_BYTES = 4096
# The most of a CSV the landing sensor reads to judge it (its header and first lines); a
# sensor tick never downloads a whole file.
CSV_SAMPLE_BYTES = 1 << 20


def sampled_content_problem(
    read_range: Callable[[int, int], bytes], size: int, name: str
) -> str | None:
    """:func:`content_problem` from a few ranges of the file, never the whole of it.

    A CSV is judged on its first :data:`CSV_SAMPLE_BYTES` (cut at the last whole line), a
    Parquet file on its magic bytes and footer (what ``pyarrow`` reads for the metadata).

    Args:
        read_range: Bytes ``start`` to ``end`` (exclusive) of the file.
        size: Its size from the listing.
        name: Its name; the suffix says CSV or Parquet.
    """
    if size == 0:
        return f"{name}: the file is empty (0 bytes)"
    if name.lower().endswith(".parquet"):
        if size < 12:
            return f"{name}: not a Parquet file (no PAR1 magic bytes at both ends)"
        return _parquet_problem(_Ranged(read_range, size), name)
    data = read_range(0, min(size, CSV_SAMPLE_BYTES))
    if size > len(data) and b"\n" in data:
        data = data[: data.rindex(b"\n") + 1]  # a cut line could end mid-character
    return _csv_problem(data, name)


class _Ranged(io.RawIOBase):
    """A read-only file over ranges of a stored file (pyarrow seeks to the footer)."""

    def __init__(self, read_range: Callable[[int, int], bytes], size: int):
        self._read, self._size, self._pos = read_range, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def read(self, size: int = -1) -> bytes:
        end = self._size if size is None or size < 0 else min(self._size, self._pos + size)
        data = self._read(self._pos, end) if end > self._pos else b""
        self._pos += len(data)
        return data

    def readinto(self, buffer) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def name_problem(name: str) -> str | None:
    """Why this name cannot be a monthly batch (suffix, month), or None."""
    base = PurePosixPath(name.replace("\\", "/")).name
    if not base.lower().endswith(SUPPORTED_SUFFIXES):
        suffix = PurePosixPath(base).suffix or "(none)"
        return f"{name}: unsupported file type {suffix!r} (use .csv or .parquet)"
    if month_of(name) is None:
        found = months_in_name(name)
        if len(found) > 1:
            return f"{name}: the file name holds several months ({', '.join(found)}); expected one"
        return f"{name}: no YYYY-MM month in the file name (expected e.g. customers_2026-04.csv)"
    return None


def content_problem(data: bytes, name: str) -> str | None:
    """Why these bytes cannot be a monthly batch, or None when they plausibly can.

    A cheap check on bytes already in memory: it looks at the header, the first few KiB and
    the line structure, and never parses the table (ingestion does that, once). Row-level
    problems are not its business: validation quarantines malformed lines downstream.

    Args:
        data: The whole file.
        name: Its name; the suffix says CSV or Parquet.

    Returns:
        A human-readable reason naming the file, or None.
    """
    if not data:
        return f"{name}: the file is empty (0 bytes)"
    if name.lower().endswith(".parquet"):
        return _parquet_problem(data, name)
    return _csv_problem(data, name)


def _csv_problem(data: bytes, name: str) -> str | None:
    if not data.strip():
        return f"{name}: the file holds only whitespace ({len(data)} bytes)"
    if b"\x00" in data[:_BINARY_SNIFF_BYTES]:
        return (
            f"{name}: binary content (NUL bytes), not a UTF-8 CSV text file "
            "(compressed, a spreadsheet, or UTF-16 text?)"
        )
    body = data.removeprefix(b"\xef\xbb\xbf")
    # Classic Mac files end lines with a bare CR, which the CSV reader accepts too.
    newline = b"\n" if b"\n" in body or b"\r" not in body else b"\r"
    header, _, rest = body.partition(newline)
    if not header.strip():
        return f"{name}: the first line is blank, expected a header"
    try:
        header_text = header.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"{name}: the header line is not UTF-8 text ({exc.reason} at byte {exc.start})"
    # A repeated column cannot be told apart from its twin, and would break the folder read.
    duplicated = duplicated_columns(next(csv.reader([header_text.rstrip("\r")]), []))
    if duplicated:
        return duplicated_columns_error(name, duplicated)
    if not rest.strip():
        return f"{name}: header only, no data rows"
    try:
        rest.decode("utf-8")
    except UnicodeDecodeError:
        # A few undecodable lines become quarantined rows; a file that is mostly not UTF-8
        # is in another encoding and would quarantine wholesale, so it is refused here.
        lines = [line for line in rest.split(newline) if line.strip()]
        bad = 0
        for line in lines:
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                bad += 1
        if bad * 2 > len(lines):
            return (
                f"{name}: not UTF-8 text: {bad} of {len(lines)} data lines cannot be decoded "
                "(another encoding, e.g. Latin-1?)"
            )
    return None


def _parquet_problem(data: bytes | _Ranged, name: str) -> str | None:
    source = io.BytesIO(data) if isinstance(data, bytes) else data
    size = source.seek(0, io.SEEK_END)
    source.seek(0)
    head = source.read(4)
    source.seek(size - 4)
    if size < 12 or head != b"PAR1" or source.read(4) != b"PAR1":
        return f"{name}: not a Parquet file (no PAR1 magic bytes at both ends)"
    source.seek(0)
    import pyarrow.parquet as pq

    try:
        # Only the footer is read and decoded; the row groups are left to ingestion.
        metadata = pq.ParquetFile(source).metadata
    except Exception as exc:  # pyarrow raises several error types for corrupt footers
        return f"{name}: not a readable Parquet file: {exc}"
    duplicated = duplicated_columns(list(metadata.schema.to_arrow_schema().names))
    if duplicated:
        return duplicated_columns_error(name, duplicated)
    if metadata.num_rows == 0:
        return f"{name}: header only, no data rows (Parquet schema with 0 rows)"
    return None
