"""The values a summary is made of, as plain data, and the helpers that read them.

Every number shown comes from here, and each field here is copied from a materialization's
metadata, a check evaluation, a step failure or a registry version: nothing is recomputed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Check:
    """One asset check evaluation."""

    asset: str
    name: str
    passed: bool
    severity: str = "ERROR"  # or WARN: a warning does not stop anything downstream
    description: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    step: str = ""  # the step that ran it (a blocking check failing there fails that step)


@dataclass(frozen=True)
class StepFailure:
    """A step that failed and the innermost error's first line."""

    step: str
    cause: str
    error_type: str = ""


@dataclass(frozen=True)
class Version:
    """A registered model version holding an alias."""

    alias: str
    version: str
    family: str = "?"
    test_roc_auc: float | None = None
    since: str = ""  # ISO time the alias came to it (promoted, restored or registered)
    note: str = ""  # who/why, when the registry recorded it


@dataclass
class RunFacts:
    """One run: its status, what each asset recorded, its checks, failures and where to look.

    ``assets`` maps an asset key (``raw_customers``) to its materialization's metadata with
    plain values (``MetadataValue.value``); ``steps`` lists the plan's step keys.
    """

    job: str
    run_id: str
    status: str
    seconds: float | None = None
    steps: list[str] = field(default_factory=list)
    finished: dict[str, str] = field(default_factory=dict)  # step -> succeeded/failed
    assets: dict[str, dict[str, Any]] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    failures: list[StepFailure] = field(default_factory=list)
    registry: list[Version] = field(default_factory=list)
    links: dict[str, str] = field(default_factory=dict)  # name -> path or URL
    log_path: str = ""
    log_tail: list[str] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCESS"

    @property
    def not_run(self) -> list[str]:
        return [s for s in self.steps if s not in self.finished]


def markdown_rows(text: Any) -> list[dict[str, str]]:
    """The rows of a Markdown table as written by ``DataFrame.to_markdown`` (the metadata's
    tables: leaderboard, metrics with intervals, quarantine reasons, gate criteria); the
    cells as they were written. Anything that is not such a table gives no rows."""
    lines = [ln.strip() for ln in str(text or "").splitlines() if ln.strip().startswith("|")]
    if len(lines) < 2:
        return []

    def cells(line: str) -> list[str]:
        return [c.strip() for c in line.strip().strip("|").split("|")]

    header = cells(lines[0])
    return [dict(zip(header, cells(line), strict=False)) for line in lines[2:]]


def number(value: Any) -> float | None:
    """``value`` as a float, or None when it is not a number (a cell, a metadata value)."""
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def first_line(text: str, limit: int = 240) -> str:
    """The first non-empty line of ``text``, cut to ``limit`` characters."""
    for line in str(text).splitlines():
        if line.strip():
            line = line.strip()
            return line if len(line) <= limit else line[: limit - 1] + "…"
    return ""


def finding(check: Check) -> str:
    """What a failed check found, in a line: the criteria it failed with their values and
    limits (the gate's checks record one dict per criterion), else its value against its
    threshold, else its description."""
    failed = [
        f"{name} {entry.get('value')} (limit {entry.get('threshold')})"
        for name, entry in check.metadata.items()
        if isinstance(entry, dict) and entry.get("passed") is False
    ]
    if failed:
        return ", ".join(failed)
    if "value" in check.metadata and "threshold" in check.metadata:
        found = f"value {check.metadata['value']} (threshold {check.metadata['threshold']})"
        return f"{first_line(check.description, 120)}: {found}" if check.description else found
    return first_line(check.description, 160) or "failed"
