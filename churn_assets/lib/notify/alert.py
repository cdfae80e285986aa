"""What the platform tells people: an :class:`Alert` is plain data, with a kind and a severity."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class AlertKind(StrEnum):
    """What happened."""

    CHECK_FAILED = "check_failed"
    DRIFT_BREACH = "drift_breach"
    RETRAIN_TRIGGERED = "retrain_triggered"
    PROMOTION = "promotion"
    ROLLBACK = "rollback"
    RUN_FAILURE = "run_failure"
    INGEST_REJECTED = "ingest_rejected"
    INGEST_FAILED = "ingest_failed"  # a landed file's ingest failed every attempt
    RETRAIN_FAILED = "retrain_failed"  # a retraining failed every attempt
    VERDICT_UNKNOWN = "verdict_unknown"  # a drift report the trigger cannot read
    SERVING_MISMATCH = "serving_mismatch"  # the registry's champion is not what is served
    GATE_REJECTED = "gate_rejected"  # the gate kept the champion: which criteria failed
    APPROVAL_REQUESTED = "approval_requested"  # a passed candidate waits for a person
    APPROVAL_DECIDED = "approval_decided"  # a person approved or rejected it


class Severity(StrEnum):
    """How urgent it is, lowest first."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0 for info, 1 for warning, 2 for critical (for comparisons)."""
        return _SEVERITY_RANK[self]

    @property
    def log_level(self) -> int:
        """The ``logging`` level an alert of this severity is logged at."""
        return _SEVERITY_LOG_LEVEL[self]


_SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}
_SEVERITY_LOG_LEVEL = {
    Severity.INFO: logging.INFO,
    Severity.WARNING: logging.WARNING,
    Severity.CRITICAL: logging.CRITICAL,
}


@dataclass(frozen=True)
class Alert:
    """One alert.

    Attributes:
        kind: What happened; a string is converted to :class:`AlertKind`.
        severity: ``"info"``, ``"warning"`` or ``"critical"``; a string is converted.
        title: One line, e.g. ``"Drift breach in batch 2026-05"``. Must not be empty.
        text: The explanation (plain text; Slack markup characters are escaped on delivery).
        fields: Key facts shown as a table, e.g. ``{"batch": "2026-05", "drift_share": "0.42"}``;
            values are converted to strings.
        url: Optional link for details (Dagster run, report, MLflow run).

    Raises:
        ValueError: On an unknown kind or severity, or an empty title.
    """

    kind: AlertKind
    severity: Severity
    title: str
    text: str = ""
    fields: dict[str, str] = field(default_factory=dict)
    url: str | None = None

    def __post_init__(self) -> None:
        # Frozen dataclass: normalise through object.__setattr__ once, at construction.
        object.__setattr__(self, "kind", AlertKind(self.kind))
        object.__setattr__(self, "severity", Severity(self.severity))
        if not str(self.title).strip():
            raise ValueError("an alert needs a non-empty title")
        object.__setattr__(self, "title", str(self.title))
        object.__setattr__(self, "text", str(self.text or ""))
        object.__setattr__(self, "fields", {str(k): str(v) for k, v in dict(self.fields).items()})

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the alert."""
        return {
            "kind": str(self.kind),
            "severity": str(self.severity),
            "title": self.title,
            "text": self.text,
            "fields": dict(self.fields),
            "url": self.url,
        }
