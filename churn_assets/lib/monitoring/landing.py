"""New monthly files in a landing location, each handed on exactly once.

A sensor calls :func:`scan` every tick with the cursor string it stored last time. The scan
lists the store (a local folder or an S3 prefix, see
:mod:`churn_assets.lib.ingestion.sources`), compares the listing with the cursor, and returns
which files are ready to ingest, which must wait, which are rejected, and the cursor to store.
It is a pure function of the listing, the cursor, ``now`` and the bytes of the files it decides
to check; nothing here imports Dagster.

Rules, per file (its identity is the name the store lists: a path or an S3 key; its
``version`` is ``size-mtime`` locally and the ETag on S3):

* **Exactly once.** A file accepted (returned as ready) is remembered with its version and
  never returned again while that version is unchanged. If its version changes it comes back
  as ready with ``replaced=True``, so the caller can re-run that month's partition. Accepted
  entries are kept after the file disappears, so an identical re-upload of an ingested S3
  object (same ETag) is not ingested twice.
* **Settle (not half-written).** A new or changed file is ready when either

  - the previous tick saw it with the same version (nothing wrote to it for a whole tick,
    ~30 s), or
  - its modification time is known (local files: from the version) and older than
    ``settle_seconds`` (a file that old was not being written when the tick started).

  Otherwise it is pending: seen for the first time, or still changing. S3 uploads are atomic,
  so on S3 settling costs one tick and nothing else. A writer that stalls longer than a tick
  and then resumes produces a new version, which comes back as ``replaced`` and re-runs the
  month, so even that case heals.
* **Rejected once.** A file that cannot be a monthly batch is rejected and recorded with its
  version: reported on the tick it is found, then silent, and only looked at again when its
  version changes (a corrected re-upload is then picked up like a new file). Name problems
  (no ``YYYY-MM`` month, unsupported suffix) are judged at once; content problems (empty,
  header only, undecodable, unreadable Parquet) only after the file has settled, because a
  file being written may well be empty for now. A CSV with *some* malformed lines is not
  rejected: validation quarantines those rows downstream.
* **One file per month.** When two present files name the same month (say
  ``customers_2026-04.csv`` and ``customers_2026-04.parquet``) the later one is rejected as
  ambiguous; "earlier" means already accepted, else seen first, else first by name. An
  ambiguous rejection is re-examined when the conflict goes away (the other file is deleted
  or rejected for its content), so deleting the wrong file is enough to fix it.
* **Bad files never block.** Every file is judged on its own; a rejection only affects that
  file, and the month of a rejected file stays free for a corrected upload.
* **Nothing landed yet is not an error.** A missing landing folder, or a folder or prefix
  without data files, gives an empty result with a ``note``. A missing S3 bucket (a
  configuration mistake that will not fix itself) and every other source error propagate.

The cursor is compact JSON (see :class:`LandingCursor`); an empty or ``None`` cursor is the
first tick.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

from churn_assets.lib.ingestion.errors import SourceError, SourceNotFoundError
from churn_assets.lib.ingestion.months import month_of, months_in_name
from churn_assets.lib.ingestion.stores import SUPPORTED_SUFFIXES, FileStore, SourceFile

CURSOR_FORMAT = 1
# Two sensor ticks (~30 s each): a local file untouched that long is not being written.
DEFAULT_SETTLE_SECONDS = 60.0
# Binary content (gzip, xlsx, UTF-16 text) shows NUL bytes early; `git` and `file` look at
# about this much too.
_BINARY_SNIFF_BYTES = 4096


# --------------------------------------------------------------------------- results
@dataclass(frozen=True)
class ReadyFile:
    """A settled, plausible monthly file to ingest now.

    Attributes:
        name: The file's name as the store lists it (local path or S3 key).
        month: ``YYYY-MM`` from the file name: the dynamic partition key.
        version: The version accepted (size-mtime locally, ETag on S3).
        size: Size in bytes.
        replaced: True when this month was ingested before (the same file with new content,
            or another file for the month that has since gone): re-run its partition.
    """

    name: str
    month: str
    version: str
    size: int
    replaced: bool = False


@dataclass(frozen=True)
class PendingFile:
    """A new or changed file that must settle before it is ingested."""

    name: str
    month: str
    version: str
    size: int
    since: datetime  # when this version was first seen


@dataclass(frozen=True)
class RejectedFile:
    """A file that cannot be a monthly batch, reported once per version."""

    name: str
    version: str
    reason: str  # names the file and the problem


@dataclass
class LandingCursor:
    """What the sensor remembers between ticks.

    JSON shape (keys sorted, no spaces)::

        {"accepted": {"<name>": "<version>"},
         "ambiguous": {"<name>": "<version>"},
         "pending": {"<name>": ["<version>", <first seen, epoch seconds>]},
         "rejected": {"<name>": "<version>"},
         "v": 1}

    ``accepted`` holds at most one name per month (the file last ingested for it).
    """

    accepted: dict[str, str] = field(default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)
    ambiguous: dict[str, str] = field(default_factory=dict)
    pending: dict[str, tuple[str, int]] = field(default_factory=dict)

    def to_json(self) -> str:
        """The cursor as a compact JSON string."""
        payload = {
            "v": CURSOR_FORMAT,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "ambiguous": self.ambiguous,
            "pending": {name: [v, t] for name, (v, t) in self.pending.items()},
        }
        return json.dumps(payload, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> LandingCursor:
        """Read a cursor string; empty or ``None`` is the first tick.

        Raises:
            ValueError: for a string that is not a cursor of this format. Starting over
                silently instead would re-ingest every month.
        """
        if text is None or not text.strip():
            return cls()
        try:
            payload = json.loads(text)
            if not isinstance(payload, dict) or payload.get("v") != CURSOR_FORMAT:
                raise ValueError(f"expected a JSON object with v={CURSOR_FORMAT}")
            return cls(
                accepted=_str_map(payload.get("accepted", {})),
                rejected=_str_map(payload.get("rejected", {})),
                ambiguous=_str_map(payload.get("ambiguous", {})),
                pending={
                    str(name): (str(v), int(t))
                    for name, (v, t) in dict(payload.get("pending", {})).items()
                },
            )
        except (TypeError, ValueError) as exc:
            raise ValueError(f"not a landing cursor ({exc}): {text[:200]!r}") from exc

    def accepted_month(self, month: str) -> str | None:
        """The name of the file accepted for a month, if any."""
        return next((n for n in self.accepted if month_of(n) == month), None)


def _str_map(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ValueError(f"expected an object, got {type(value).__name__}")
    return {str(k): str(v) for k, v in value.items()}


@dataclass
class ScanResult:
    """What one scan found; ``cursor`` is what to store for the next tick."""

    ready: list[ReadyFile]
    pending: list[PendingFile]
    rejected: list[RejectedFile]
    cursor: LandingCursor
    note: str | None = None

    def summary(self) -> str:
        """One line for a sensor's skip reason or log."""
        parts = [
            f"{len(self.ready)} ready",
            f"{len(self.pending)} pending",
            f"{len(self.rejected)} rejected",
        ]
        text = ", ".join(parts)
        return f"{text} ({self.note})" if self.note else text


# --------------------------------------------------------------------------- names
def _name_problem(name: str) -> str | None:
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


# --------------------------------------------------------------------------- content
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
        header.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"{name}: the header line is not UTF-8 text ({exc.reason} at byte {exc.start})"
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


def _parquet_problem(data: bytes, name: str) -> str | None:
    if len(data) < 12 or data[:4] != b"PAR1" or data[-4:] != b"PAR1":
        return f"{name}: not a Parquet file (no PAR1 magic bytes at both ends)"
    import pyarrow.parquet as pq

    try:
        # Only the footer is decoded; the row groups are left to ingestion.
        metadata = pq.ParquetFile(io.BytesIO(data)).metadata
    except Exception as exc:  # pyarrow raises several error types for corrupt footers
        return f"{name}: not a readable Parquet file: {exc}"
    if metadata.num_rows == 0:
        return f"{name}: header only, no data rows (Parquet schema with 0 rows)"
    return None


# --------------------------------------------------------------------------- scanning
def local_modified_at(file: SourceFile) -> datetime | None:
    """The modification time of a local file, read from its ``size-mtime_ns`` version.

    Returns None for any other version (an S3 ETag): the age is then unknown and the file
    settles by being seen unchanged on two ticks. The size prefix must match, so an ETag can
    never be mistaken for a time.
    """
    size, sep, mtime_ns = file.version.partition("-")
    if sep and size == str(file.size) and mtime_ns.isdigit():
        return datetime.fromtimestamp(int(mtime_ns) / 1e9, tz=UTC)
    return None


def _is_missing_bucket(exc: SourceNotFoundError) -> bool:
    response = getattr(exc.__cause__, "response", None)
    code = response.get("Error", {}).get("Code", "") if isinstance(response, Mapping) else ""
    return code in ("NoSuchBucket", "404")


def _list(store: FileStore) -> tuple[list[SourceFile], str | None]:
    try:
        return store.list_files(), None
    except SourceNotFoundError as exc:
        if _is_missing_bucket(exc):
            raise
        return [], f"nothing has landed yet: {exc}"


def _read(store: FileStore, file: SourceFile) -> bytes | None:
    """The file's bytes, or None when it vanished between listing and reading."""
    try:
        return store.read_bytes(file)
    except FileNotFoundError:
        return None
    except Exception as exc:
        response = getattr(exc, "response", None)
        if isinstance(response, Mapping) and response.get("Error", {}).get("Code") in (
            "NoSuchKey",
            "404",
        ):
            return None
        raise SourceError(f"{file.name}: cannot read the file: {exc}") from exc


def scan(
    store: FileStore,
    cursor: LandingCursor | str | None,
    now: datetime,
    settle_seconds: float = DEFAULT_SETTLE_SECONDS,
    modified_at: Callable[[SourceFile], datetime | None] = local_modified_at,
) -> ScanResult:
    """Compare a landing location with the cursor: what is ready, pending or rejected.

    See the module docstring for the rules.

    Args:
        store: The landing location (``open_store(parse_data_uri(uri), s3_client)``).
        cursor: The cursor of the previous tick (object or JSON string); empty/None on the
            first tick.
        now: The tick's time (timezone-aware preferred; naive means local time).
        settle_seconds: A file whose modification time is at least this old is ready on the
            first sighting; 0 makes every plausible file ready at once.
        modified_at: Modification time of a listed file, None if unknown.

    Returns:
        Ready files sorted by month, pending and rejected files sorted by name, the new
        cursor, and a note when nothing has landed yet.

    Raises:
        SourceError: the source cannot be listed (other than "nothing landed yet"), or a
            settled file cannot be read.
    """
    old = cursor if isinstance(cursor, LandingCursor) else LandingCursor.from_json(cursor)
    listing, note = _list(store)
    now_ts = now.timestamp()
    files = {f.name: f for f in listing}

    new = LandingCursor(accepted=dict(old.accepted))
    ready: list[ReadyFile] = []
    pending: list[PendingFile] = []
    rejected: list[RejectedFile] = []

    def reject(file: SourceFile, reason: str, ambiguous: bool = False) -> None:
        # Silent when this version was rejected for the same kind of cause before: reported
        # once per version (an ambiguous file that later proves bad is reported again).
        before, after = (
            (old.ambiguous, new.ambiguous) if ambiguous else (old.rejected, new.rejected)
        )
        if before.get(file.name) != file.version:
            rejected.append(RejectedFile(file.name, file.version, reason))
        after[file.name] = file.version

    # 1. Known versions and name-level rejections; the rest are candidates, by month.
    by_month: dict[str, list[SourceFile]] = {}
    for file in files.values():
        if old.rejected.get(file.name) == file.version:
            new.rejected[file.name] = file.version
            continue
        problem = _name_problem(file.name)
        if problem:
            reject(file, problem)
            continue
        by_month.setdefault(month_of(file.name) or "", []).append(file)

    # 2. One file per month: the earliest claimant keeps it, the others are ambiguous.
    def claim_order(file: SourceFile) -> tuple[int, float, str]:
        if old.accepted.get(file.name) == file.version:
            return (0, 0.0, file.name)
        if file.name in old.accepted:
            return (1, 0.0, file.name)
        seen = old.pending.get(file.name)
        return (2, seen[1] if seen else now_ts, file.name)

    owners: list[tuple[str, SourceFile]] = []
    for month, claimants in by_month.items():
        owner, *others = sorted(claimants, key=claim_order)
        owners.append((month, owner))
        for other in others:
            reason = (
                f"{other.name}: ambiguous month {month}, already provided by {owner.name}; "
                "remove one of the two files"
            )
            reject(other, reason, ambiguous=True)

    # 3. Owners that are new or changed: settle, check content, accept.
    for month, file in sorted(owners, key=lambda item: (item[0], item[1].name)):
        if old.accepted.get(file.name) == file.version:
            continue  # already ingested, unchanged
        seen = old.pending.get(file.name)
        stable = (seen is not None and seen[0] == file.version) or (
            old.ambiguous.get(file.name) == file.version
        )
        mtime = modified_at(file)
        if not stable and mtime is not None:
            stable = now_ts - mtime.timestamp() >= settle_seconds
        # Deleted between listing and reading: wait; the next listing says whether it is gone.
        data = _read(store, file) if stable else None
        if data is None:
            first_seen = seen[1] if seen and seen[0] == file.version else int(now_ts)
            new.pending[file.name] = (file.version, first_seen)
            since = datetime.fromtimestamp(first_seen, tz=UTC)
            pending.append(PendingFile(file.name, month, file.version, file.size, since))
            continue
        problem = content_problem(data, file.name)
        if problem:
            reject(file, problem)
            continue
        previous = old.accepted_month(month)
        for name in [n for n in new.accepted if month_of(n) == month]:
            del new.accepted[name]  # one accepted file per month: this one supersedes
        new.accepted[file.name] = file.version
        ready.append(ReadyFile(file.name, month, file.version, file.size, previous is not None))

    pending.sort(key=lambda p: p.name)
    rejected.sort(key=lambda r: r.name)
    return ScanResult(ready=ready, pending=pending, rejected=rejected, cursor=new, note=note)
