"""New monthly files in a landing location, each handed on exactly once.

A sensor calls :func:`scan` every tick with the cursor string it stored last time. The scan
lists the store (a local folder or an S3 prefix, see
:mod:`churn_assets.lib.ingestion.stores`), compares the listing with the cursor, and returns
which files are ready to ingest, which must wait, which are rejected, and the cursor to store.
It is a pure function of the listing, the cursor, ``now`` and a few byte ranges of the files it
decides to check (a CSV's first MiB, a Parquet footer: never a whole download inside a sensor
tick); nothing here imports Dagster.

Rules, per file (its identity is the name the store lists: a path or an S3 key; its
``version`` is ``size-mtime`` locally and the ETag on S3):

* **Exactly once.** A file returned as ready is remembered with its version (as requested,
  then as accepted once its run succeeds: :func:`follow_up`) and never returned again while
  that version is unchanged; a failed ingest is retried by :func:`follow_up`, not here. If
  its version changes it comes back as ready with ``replaced=True``, so the caller can
  re-run that month's partition. Accepted entries are kept after the file disappears, so an
  identical re-upload of an ingested S3 object (same ETag) is not ingested twice.
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

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from churn_assets.lib.ingestion.errors import SourceError, SourceNotFoundError
from churn_assets.lib.ingestion.months import month_of
from churn_assets.lib.ingestion.stores import FileStore, SourceFile
from churn_assets.lib.monitoring.config import DEFAULT_SETTLE_SECONDS
from churn_assets.lib.monitoring.file_checks import (
    content_problem,
    name_problem,
    sampled_content_problem,
)
from churn_assets.lib.monitoring.landing_cursor import (
    LandingCursor,
    PendingFile,
    ReadyFile,
    RejectedFile,
    ScanResult,
)
from churn_assets.lib.monitoring.requests import MAX_ATTEMPTS, RunState, settle


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


def _judge(store: FileStore, file: SourceFile) -> tuple[bool, str | None]:
    """(still there, content problem): judged from a few byte ranges of the file (its
    header, a Parquet footer), never a whole download, when the store reads ranges; (False,
    None) when it vanished between listing and reading."""
    try:
        read_range = getattr(store, "read_range", None)
        if read_range is None:  # a store without ranges (a custom one): the whole file
            return True, content_problem(store.read_bytes(file), file.name)
        problem = sampled_content_problem(
            lambda start, end: read_range(file, start, end), file.size, file.name
        )
        return True, problem
    except FileNotFoundError:
        return False, None
    except SourceError:
        raise
    except Exception as exc:
        response = getattr(exc, "response", None)
        if isinstance(response, Mapping) and response.get("Error", {}).get("Code") in (
            "NoSuchKey",
            "404",
        ):
            return False, None
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

    new = LandingCursor(accepted=dict(old.accepted), requested=dict(old.requested))
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
        problem = name_problem(file.name)
        if problem:
            reject(file, problem)
            continue
        by_month.setdefault(month_of(file.name) or "", []).append(file)

    # 2. One file per month: the earliest claimant keeps it, the others are ambiguous.
    def claim_order(file: SourceFile) -> tuple[int, float, str]:
        if old.handled(file.name, file.version):
            return (0, 0.0, file.name)
        if file.name in old.accepted or file.name in old.requested:
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
        if old.handled(file.name, file.version):
            continue  # already ingested (or its ingest is under way), unchanged
        seen = old.pending.get(file.name)
        stable = (seen is not None and seen[0] == file.version) or (
            old.ambiguous.get(file.name) == file.version
        )
        mtime = modified_at(file)
        if not stable and mtime is not None:
            stable = now_ts - mtime.timestamp() >= settle_seconds
        # Deleted between listing and reading: wait; the next listing says whether it is gone.
        present, problem = _judge(store, file) if stable else (False, None)
        if not present:
            first_seen = seen[1] if seen and seen[0] == file.version else int(now_ts)
            new.pending[file.name] = (file.version, first_seen)
            since = datetime.fromtimestamp(first_seen, tz=UTC)
            pending.append(PendingFile(file.name, month, file.version, file.size, since))
            continue
        if problem:
            reject(file, problem)
            continue
        previous = old.accepted_month(month)
        for name in [n for n in [*new.accepted, *new.requested] if month_of(n) == month]:
            # One file per month: this one supersedes (a request still open is let go).
            new.accepted.pop(name, None)
            new.requested.pop(name, None)
        new.requested[file.name] = (file.version, 1, int(now_ts))
        ready.append(ReadyFile(file.name, month, file.version, file.size, previous is not None))

    pending.sort(key=lambda p: p.name)
    rejected.sort(key=lambda r: r.name)
    return ScanResult(ready=ready, pending=pending, rejected=rejected, cursor=new, note=note)


@dataclass
class FollowUp:
    """What following up the requested ingests found: files accepted now, retries to
    request, and files given up after :data:`~churn_assets.lib.monitoring.requests.MAX_ATTEMPTS`
    failed runs (rejected for that version: a corrected re-upload is picked up again)."""

    accepted: list[str] = field(default_factory=list)
    retries: list[ReadyFile] = field(default_factory=list)
    gave_up: list[RejectedFile] = field(default_factory=list)


def follow_up(
    cursor: LandingCursor,
    state_of: Callable[[str, str], RunState],
    now: datetime,
    max_attempts: int = MAX_ATTEMPTS,
) -> FollowUp:
    """Settle the cursor's requested ingests by the state of their runs (edits ``cursor``).

    Args:
        cursor: The cursor of the previous tick.
        state_of: The state of the run with a run key, for a month (``(run_key, month)``).
        now: The tick's time.
        max_attempts: Runs per file version before giving up.
    """
    result, now_ts = FollowUp(), now.timestamp()
    for name, (version, attempt, requested_at) in sorted(cursor.requested.items()):
        month = month_of(name) or ""
        ready = ReadyFile(name, month, version, 0, attempt=attempt)
        verdict = settle(
            state_of(ready.run_key, month), attempt, requested_at, now_ts, max_attempts
        )
        if verdict == "done":
            del cursor.requested[name]
            cursor.accepted[name] = version
            result.accepted.append(name)
        elif verdict == "retry":
            cursor.requested[name] = (version, attempt + 1, int(now_ts))
            result.retries.append(ReadyFile(name, month, version, 0, attempt=attempt + 1))
        elif verdict == "give_up":
            del cursor.requested[name]
            cursor.rejected[name] = version
            reason = (
                f"{name}: ingest failed {attempt} time(s) (last run key {ready.run_key!r}); "
                "not retried again: see the failed runs, fix the cause and upload the file "
                "again (a new version is ingested), or re-run the month by hand"
            )
            result.gave_up.append(RejectedFile(name, version, reason))
    return result


def month_file(store: FileStore, month: str, name: str | None = None) -> SourceFile:
    """The one file the store holds for ``month`` (the one called ``name``, when given: the
    landing sensor names the file it accepted in the run's tags).

    Raises:
        LookupError: unless exactly one file matches.
    """
    files = [f for f in store.list_files() if month_of(f.name) == month]
    if name:
        files = [f for f in files if f.name == name]
    if len(files) != 1:
        names = [f.name for f in files]
        raise LookupError(
            f"month {month}: expected exactly one file in {store.description}, found {names}"
        )
    return files[0]
