"""`make status` as text: champion and challenger, the last run of each job, the newest
month's drift verdict and the open alerts."""

from __future__ import annotations

from dataclasses import dataclass

from churn_assets.lib.console.facts import Version
from churn_assets.lib.console.progress import duration
from churn_assets.lib.console.summary import registry_section


@dataclass(frozen=True)
class JobRun:
    """The newest run of one job (``status`` None: never run)."""

    job: str
    status: str | None = None
    started: str = ""
    seconds: float | None = None
    run_id: str = ""
    trigger: str = ""  # the sensor or schedule that launched it, if any


@dataclass(frozen=True)
class Drift:
    """The drift report of the newest landed month."""

    month: str
    breached: bool
    model_version: str = "?"
    drifted_columns: str = ""
    report: str = ""


def render_status(
    where: dict[str, str],
    versions: list[Version],
    runs: list[JobRun],
    drift: Drift | None,
    alerts: list[str],
) -> list[str]:
    """The sections of `make status`, a blank line between them."""
    lines = ["Platform state", *(f"  {k:<22} {v}" for k, v in where.items()), ""]
    lines += ["Registry", *(registry_section(versions) or ["  no champion or challenger yet"])]
    lines += ["", "Last run of each job"]
    for run in runs:
        if run.status is None:
            lines.append(f"  {run.job:<22} never run")
            continue
        took = f" in {duration(run.seconds)}" if run.seconds is not None else ""
        by = f", by {run.trigger}" if run.trigger else ""
        lines.append(
            f"  {run.job:<22} {run.status:<8} {run.started}{took}{by} (run {run.run_id[:8]})"
        )
    lines += ["", "Drift (newest month)"]
    if drift is None:
        lines.append("  no month judged yet (drift is judged per landed month: make loop)")
    else:
        verdict = "BREACHED" if drift.breached else "no drift"
        columns = f"; drifted: {drift.drifted_columns}" if drift.drifted_columns else ""
        lines.append(f"  {drift.month:<22} {verdict} (model v{drift.model_version}){columns}")
        if drift.report:
            lines.append(f"  {'report':<22} {drift.report}")
    lines += ["", f"Open alerts ({len(alerts)})", *(f"  - {a}" for a in alerts or ["none"])]
    return lines
