"""The prediction log: every served prediction as a JSON line under ``CHURN_HOME/predictions``,
written by the service and read back as one table. A columnar ``/bulk/predict`` batch of
:data:`TABLE_MIN_ROWS` or more rows is logged as one Parquet file of the same fields instead
(:meth:`PredictionLog.write_table`); :func:`read_prediction_logs` reads both.

Best effort by design: the prediction is what the client asked for, the log is a copy for
monitoring. A write that fails (disk full, folder removed, permission) drops that request's
lines, counts the failure and logs one WARNING per burst of failures (then one a minute while
it lasts, and one line when writes succeed again); it never raises into the request. Each
write after a failure reopens the file, so a failed rotation or a removed folder heals on its
own once the disk does.

Retention: files (every worker's, rotated ones included) whose last write (mtime) is older than
``retention_days`` are deleted when the log opens, at each rotation and at most hourly while
serving; the contract's ``privacy.prediction_log.retention_days`` sets it (docs/serving.md).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from churn_assets.lib.serving.bundle import json_value

logger = logging.getLogger("churn_service.prediction_log")
WARN_EVERY_S = 60.0  # while a burst lasts, one WARNING a minute, not one per request
PURGE_EVERY_S = 3600.0  # retention is also applied hourly, for a log that rarely rotates
PATTERN = "predictions-*.jsonl*"
TABLE_PATTERN = "predictions-*.parquet"  # a columnar bulk request's lines, one file each
TABLE_MIN_ROWS = 1_000  # a columnar batch this large is logged as one Parquet file


class PredictionLog:
    """Append-only JSON lines of served predictions under ``CHURN_HOME/predictions``.

    One file per worker process (``predictions-<worker>.jsonl``), rotated by size, so
    workers never interleave writes and :func:`read_prediction_logs` can read every file. Each line:
    time, request id, model version, score, label, tier, the shadow's version and score when
    one ran, and the request's fields (after the contract's privacy rule: see
    :meth:`~churn_assets.lib.serving.predictor.Predictor.log_entries`).

    Not ``logging.handlers.RotatingFileHandler``: it formats, flushes and checks the size per
    record, 44 ms per 1,000-row request here (more than scoring them); this encodes and
    writes a request's lines in one unbuffered ``write`` (~2 ms per 1,000 rows). Rotation
    renames like it does: ``.jsonl`` -> ``.jsonl.1`` -> ... -> ``.jsonl.<backups>`` (the
    oldest is dropped).

    Args:
        folder: where the files go (created, and created again if removed).
        worker: this process's file name part.
        max_bytes / backups: rotation size and how many rotated files to keep.
        retention_days: delete files last written longer ago than this (``None``: keep).
        on_error: called with the stage (``write``, ``rotate``, ``retention``) and the error
            of each failure: the service counts them in Prometheus.
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        worker: int | str = 0,
        max_bytes: int = 50_000_000,
        backups: int = 10,
        retention_days: float | None = None,
        on_error: Callable[[str, BaseException], None] | None = None,
    ):
        import msgspec

        self.folder = Path(folder)
        self.worker = worker
        self.path = self.folder / f"predictions-{worker}.jsonl"
        self.max_bytes = max_bytes
        self.backups = backups
        self.retention_days = retention_days
        self.on_error = on_error
        # msgspec writes all of a request's lines in one call (~1 µs a line; json.dumps ~10).
        self._encoder = msgspec.json.Encoder(enc_hook=json_value)
        self._lock = threading.Lock()  # sync endpoints run in a thread pool
        self._handle: Any = None
        self._size = 0
        self.failed_writes = 0  # since start
        self.lost_lines = 0
        self.last_error: str | None = None
        # Per stage (write, rotate, retention): failures since its last success, since when,
        # and when it last warned: a rotation failing at every write while the writes
        # succeed is still one burst.
        self._burst: dict[str, int] = {}
        self._burst_since: dict[str, float] = {}
        self._warned_at: dict[str, float] = {}
        self._purged_at = time.monotonic()
        with self._lock:
            self._purge()
            with contextlib.suppress(OSError):  # best effort: the first write retries
                self._open()

    # ------------------------------------------------------------------ writing
    def write(self, records: list[dict[str, Any]]) -> bool:
        """Append one request's lines; ``False`` (counted, warned) if they could not be."""
        with self._lock:
            try:
                data = self._encoder.encode_lines(records)
                handle = self._current()
                view = memoryview(data)
                while view:  # an unbuffered write may be short
                    view = view[handle.write(view) :]
                self._size += len(data)
            except Exception as exc:  # the request must not fail because its copy did
                self._close_quietly()
                self._failed("write", exc, lines=len(records))
                return False
            self._written(rotate=self._size >= self.max_bytes)
        return True

    def write_table(self, build: Callable[[], Any], lines: int) -> bool:
        """Log a columnar batch's ``lines`` lines as one Parquet file (the Arrow table that
        ``build()`` returns: the same fields as a line, the request's fields as columns):
        for a 10,000-row ``/bulk/predict`` request, a third of the time of its JSON lines
        and a twentieth of their bytes. Written to a hidden name, then renamed, so a reader
        never sees half a file; a failure (building included) is a failed write."""
        import uuid

        import pyarrow.parquet as pq

        name = f"predictions-{self.worker}-{time.time_ns()}-{uuid.uuid4().hex[:8]}.parquet"
        partial = self.folder / f".{name}.partial"
        with self._lock:
            try:
                table = build()
                self.folder.mkdir(parents=True, exist_ok=True)
                pq.write_table(table, partial)
                partial.rename(self.folder / name)
            except Exception as exc:  # the request must not fail because its copy did
                with contextlib.suppress(OSError):
                    partial.unlink(missing_ok=True)
                self._failed("write", exc, lines=lines)
                return False
            self._written(rotate=False)
        return True

    def _written(self, rotate: bool) -> None:
        """After a successful write: the end of a failure burst, rotation or retention."""
        if self._burst.get("write"):
            self._recovered("write")
        if rotate:
            self._rotate()
        elif time.monotonic() - self._purged_at >= PURGE_EVERY_S:
            self._purge()

    def _current(self) -> Any:
        """The open file, reopened when closed by a failure or unlinked under us (folder
        removed, file deleted by retention or by hand): lines written to an unlinked file
        would be lost without an error."""
        if self._handle is not None:
            if os.fstat(self._handle.fileno()).st_nlink > 0:
                return self._handle
            self._close_quietly()
        return self._open()

    def _open(self) -> Any:
        self.folder.mkdir(parents=True, exist_ok=True)
        # a+: appends like "a", and can read its last byte back (below).
        handle = open(self.path, "a+b", buffering=0)  # noqa: SIM115 (kept open: the log's handle)
        size = os.fstat(handle.fileno()).st_size
        if size and os.pread(handle.fileno(), 1, size - 1) != b"\n":
            # A write cut short (disk full) left half a line: end it, so the next line is
            # whole (read_prediction_logs skips the torn one).
            handle.write(b"\n")
            size += 1
        self._handle, self._size = handle, size
        return handle

    def _close_quietly(self) -> None:
        if self._handle is not None:
            with contextlib.suppress(OSError):
                self._handle.close()
        self._handle = None

    def _rotate(self) -> None:
        # Closed and forgotten first: whatever fails below, the next write reopens.
        self._close_quietly()
        try:
            for index in range(self.backups - 1, 0, -1):
                older = self.path.with_name(f"{self.path.name}.{index}")
                if older.exists():
                    older.replace(self.path.with_name(f"{self.path.name}.{index + 1}"))
            if self.backups > 0:
                self.path.replace(self.path.with_name(f"{self.path.name}.1"))
            else:
                self.path.unlink()
        except OSError as exc:
            self._failed("rotate", exc)
        else:
            if self._burst.get("rotate"):
                self._recovered("rotate")
        self._purge()

    # ------------------------------------------------------------------ retention
    def _purge(self) -> None:
        """Delete this folder's log files last written before the retention window."""
        self._purged_at = time.monotonic()
        if self.retention_days is None:
            return
        try:
            for path in expired_logs(self.folder, self.retention_days):
                with contextlib.suppress(FileNotFoundError):  # another worker was first
                    path.unlink()
                logger.info("prediction log %s deleted: older than its retention", path)
        except OSError as exc:
            self._failed("retention", exc)

    # ------------------------------------------------------------------ failures
    def _failed(self, stage: str, exc: BaseException, lines: int = 0) -> None:
        now = time.monotonic()
        self.failed_writes += stage == "write"
        self.lost_lines += lines
        self.last_error = f"{stage}: {type(exc).__name__}: {exc}"
        if self.on_error is not None:
            with contextlib.suppress(Exception):
                self.on_error(stage, exc)
        burst = self._burst[stage] = self._burst.get(stage, 0) + 1
        if burst == 1:
            self._burst_since[stage] = now
        if burst == 1 or now - self._warned_at.get(stage, 0.0) >= WARN_EVERY_S:
            self._warned_at[stage] = now
            effect = {
                "write": "predictions are still served but not logged",
                "rotate": "lines are still written, to the unrotated file",
                "retention": "expired files are kept until the next try",
            }[stage]
            logger.warning(
                "prediction log %s: %s failed (%s); %s (%d failure(s) so far in this burst, "
                "next warning in %.0f s if it lasts). Free space or fix the folder "
                "(CHURN_PREDICTION_LOG_DIR): it resumes on its own.",
                self.path,
                stage,
                self.last_error,
                effect,
                burst,
                WARN_EVERY_S,
            )

    def _recovered(self, stage: str) -> None:
        lasted = time.monotonic() - self._burst_since.pop(stage, time.monotonic())
        logger.warning(
            "prediction log %s: %s works again after %d failure(s) over %.0f s",
            self.path,
            stage,
            self._burst.pop(stage),
            lasted,
        )

    def status(self) -> dict[str, Any]:
        """What ``/model_info`` reports: ``ok`` is false while writes are failing."""
        return {
            "ok": not self._burst.get("write"),
            "path": str(self.path),
            "failed_writes": self.failed_writes,
            "lost_lines": self.lost_lines,
            "last_error": self.last_error,
            "retention_days": self.retention_days,
        }

    def close(self) -> None:
        with self._lock:
            self._close_quietly()


def expired_logs(folder: str | os.PathLike[str], retention_days: float) -> list[Path]:
    """The log files under ``folder`` last written more than ``retention_days`` ago."""
    cutoff = datetime.now(UTC).timestamp() - retention_days * 86400
    out = []
    for path in sorted([*Path(folder).glob(PATTERN), *Path(folder).glob(TABLE_PATTERN)]):
        with contextlib.suppress(FileNotFoundError):
            if path.is_file() and path.stat().st_mtime < cutoff:
                out.append(path)
    return out


def read_prediction_logs(folder: str | os.PathLike[str]) -> pd.DataFrame:
    """Every logged prediction under ``folder`` (all workers, rotated files and bulk
    requests' Parquet files included), oldest first, the request's fields as columns.

    A line cut short by a failed write (disk full) is skipped, with a warning naming the
    file and the count: the log is best effort, the lines around it are whole; so is a
    Parquet file that cannot be read.
    """
    rows: list[dict[str, Any]] = []
    for path in sorted(Path(folder).glob(PATTERN)):
        if not path.is_file():
            continue
        torn = 0
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.strip():
                    try:
                        rows.append(json.loads(line))
                    except ValueError:
                        torn += 1
        if torn:
            logger.warning("%s: %d torn line(s) skipped (a write cut short)", path, torn)
    frames = []
    if rows:
        frame = pd.json_normalize(rows)
        frame.columns = [c.removeprefix("features.") for c in frame.columns]
        frames.append(frame)
    for path in sorted(Path(folder).glob(TABLE_PATTERN)):
        try:
            frames.append(pd.read_parquet(path))
        except Exception as exc:  # pyarrow's errors for a file that is not whole Parquet
            logger.warning("%s skipped: not readable as Parquet (%s)", path, exc)
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame()
    frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    return frame.sort_values("time", kind="stable").reset_index(drop=True)
