"""What the landing scan returns and what its sensor remembers between ticks: the files
ready, pending and rejected on one tick, and the cursor (compact JSON) it stores for the next.
:func:`~churn_assets.lib.monitoring.landing.scan` explains the rules."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from churn_assets.lib.ingestion.months import month_of
from churn_assets.lib.monitoring.requests import run_key

CURSOR_FORMAT = 1


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
    attempt: int = 1  # > 1 when a failed ingest of this version is retried

    @property
    def run_key(self) -> str:
        """One run per file version and attempt: a re-upload with new content is ingested
        again, and a retry needs a key Dagster has not launched yet."""
        return run_key(f"{self.name}@{self.version}", self.attempt)


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
         "requested": {"<name>": ["<version>", <attempt>, <requested at, epoch seconds>]},
         "v": 1}

    ``requested`` holds files whose ingest run was asked for and has not succeeded yet;
    ``accepted`` those whose run succeeded (:mod:`~churn_assets.lib.monitoring.requests`).
    Together they hold at most one name per month. A cursor without ``requested`` (from
    before runs were followed up) reads as having none. Other keys (a sensor's alert outbox)
    are left alone.
    """

    accepted: dict[str, str] = field(default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)
    ambiguous: dict[str, str] = field(default_factory=dict)
    pending: dict[str, tuple[str, int]] = field(default_factory=dict)
    requested: dict[str, tuple[str, int, int]] = field(default_factory=dict)

    def to_json(self) -> str:
        """The cursor as a compact JSON string."""
        payload = {
            "v": CURSOR_FORMAT,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "ambiguous": self.ambiguous,
            "pending": {name: [v, t] for name, (v, t) in self.pending.items()},
            "requested": {name: [v, a, t] for name, (v, a, t) in self.requested.items()},
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
                requested={
                    str(name): (str(v), int(a), int(t))
                    for name, (v, a, t) in dict(payload.get("requested", {})).items()
                },
            )
        except (TypeError, ValueError) as exc:
            raise ValueError(f"not a landing cursor ({exc}): {text[:200]!r}") from exc

    def accepted_month(self, month: str) -> str | None:
        """The name of the file accepted (or requested) for a month, if any."""
        names = [*self.requested, *self.accepted]
        return next((n for n in names if month_of(n) == month), None)

    def handled(self, name: str, version: str) -> bool:
        """Whether this version of the file was accepted or its ingest is requested."""
        requested = self.requested.get(name)
        return self.accepted.get(name) == version or (
            requested is not None and requested[0] == version
        )


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
