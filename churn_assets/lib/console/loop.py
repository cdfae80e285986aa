"""The closed loop's result as text: each phase, each month's drift verdict, what the
sensors launched, the gate's decision and the bento (from the scenario's summary dict, which
it reads from the event log and the run history)."""

from __future__ import annotations

from typing import Any

from churn_assets.lib.console.progress import duration


def phase_line(phase: dict[str, Any]) -> str:
    """``[  95 s] month 5 lands (retrain): 6 runs, 0 failed``."""
    failed = phase.get("failed_runs", 0)
    return (
        f"[{duration(phase.get('seconds')):>10}] {phase.get('phase')}: {phase.get('runs')} runs"
        + (f", {failed} FAILED" if failed else ", none failed")
    )


def render_loop(summary: dict[str, Any]) -> list[str]:
    """The loop's verdicts, one section each."""
    lines = [f"The closed loop took {duration(summary.get('total_seconds'))}", "Phases"]
    lines += [f"  {phase_line(p)}" for p in summary.get("phases", [])]
    lines.append("Drift per month (model judged)")
    for month, verdict in summary.get("drift", {}).items():
        state = "BREACHED" if verdict.get("breached") else "no drift"
        lines.append(f"  {month:<10} {state:<9} v{verdict.get('model_version')}")
    triggered = summary.get("triggered", [])
    lines.append("Launched by the loop's sensors")
    counts: dict[str, int] = {}
    for name in triggered:
        counts[name] = counts.get(name, 0) + 1
    lines += [f"  {n} x {name}" for name, n in counts.items()] or ["  nothing"]
    promotion = summary.get("promotion", {})
    lines.append(
        f"Gate: {promotion.get('outcome')}; champion {promotion.get('champion_before')} -> "
        f"{promotion.get('champion_after')}; bento {summary.get('bento')}"
    )
    runs = summary.get("runs", {})
    lines.append(f"Runs: {runs.get('total')} in all, {runs.get('failed')} failed")
    return lines
