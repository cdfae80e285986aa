"""What the landing scan returns and what its sensor remembers between ticks: the files
ready, pending and rejected on one tick, and the cursor (compact JSON) it stores for the next.
:func:`~churn_assets.lib.monitoring.landing.scan` explains the rules."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from churn_assets.lib.ingestion.months import month_of

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
