"""The monthly quarantine files (``<storage>/quarantine/<month>.parquet``): written with the
rows a landed month rejected, deleted once older than the contract's retention.

Quarantined rows are customer data as received, kept so a person can fix the source; they
are not needed after that. ``contract.privacy.quarantine_retention_days`` (default 90, null
keeps them forever) says how long. The step that writes them (`landed_batch`) purges expired
ones on every run: it is the only writer, it has the storage's credentials wherever it runs
(a pod, a laptop), and a month lands at least monthly in a running loop. A loop that stops
receiving files also stops purging; `docs/privacy.md` says to run `ingest_batch` (or delete
the folder) then. Age is the file's modification time in the storage: when the rows were
stored, not the month they describe (a backfill of an old month is kept its full time).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

SUFFIX = ".parquet"


def write(folder: Any, month: str, quarantined: pd.DataFrame) -> Any:
    """Write one month's quarantined rows (as text, as received); returns the path."""
    path = folder / f"{month}{SUFFIX}"
    folder.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        quarantined.astype(str).to_parquet(out, index=False)
    return path


def purge(folder: Any, retention_days: int | None, now: datetime) -> list[str]:
    """Delete quarantine files last written more than ``retention_days`` before ``now``.

    Args:
        folder: The quarantine folder (a local path or a ``UPath`` on a bucket).
        retention_days: Days to keep; None keeps every file.
        now: Timezone-aware current time.

    Returns:
        The names deleted (empty when the folder does not exist yet).
    """
    if retention_days is None or not folder.exists():
        return []
    cutoff = now - timedelta(days=retention_days)
    deleted = []
    for path in sorted(folder.iterdir(), key=lambda p: p.name):
        if not path.name.endswith(SUFFIX):
            continue
        if _modified(path) < cutoff:
            path.unlink()
            deleted.append(path.name)
    return deleted


def _modified(path: Any) -> datetime:
    """A file's modification time (timezone-aware) on any fsspec filesystem."""
    from datetime import UTC

    fs = getattr(path, "fs", None)
    if fs is not None:
        stamp = fs.modified(path.path)
    else:
        stamp = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
