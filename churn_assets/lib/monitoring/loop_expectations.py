"""What a played closed-loop scenario (`python -m churn_assets.scenario`) must have done, read
from its summary: always no failed run and a drift report for every landed month; for the
default scenario also its verdicts (the drifted months breach, a retraining, the gate promotes
v2, the bento serves v2). The scenario exits non-zero naming whatever is missing, so
`make loop` cannot pass on a loop that promoted nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

RETRAINING = "churn_pipeline:retrain"  # job:trigger of a run the retraining sensor requested
PROMOTED_VERSION = "2"  # the first champion is v1; the retraining registers v2


def unmet(
    summary: dict[str, Any], landed: Sequence[str], breaching: Sequence[str] | None = None
) -> list[str]:
    """What the loop did not do, one sentence each (empty when it did everything).

    Args:
        summary: The scenario's summary (``drift``, ``triggered``, ``promotion``, ``bento``,
            ``runs``).
        landed: Every month landed (``YYYY-MM``).
        breaching: The months expected to breach, every other landed month clean: the full
            expectation of the default scenario (a retraining, v2 promoted, bento v2). None
            checks only the basics.
    """
    problems = []
    failed = summary["runs"]["failed"]
    if failed:
        problems.append(f"{failed} run(s) failed")
    drift = summary["drift"]
    if missing := [m for m in landed if m not in drift]:
        problems.append(f"no drift report for {', '.join(missing)}")
    if breaching is None:
        return problems
    breached = [m for m, verdict in drift.items() if verdict["breached"]]
    if sorted(breached) != sorted(breaching):
        problems.append(
            f"expected months {', '.join(breaching) or 'none'} to breach, got "
            f"{', '.join(sorted(breached)) or 'none'}"
        )
    if RETRAINING not in summary["triggered"]:
        problems.append(f"no retraining was triggered (triggered: {summary['triggered']})")
    promotion = summary["promotion"]
    if (promotion.get("outcome"), promotion.get("champion_after")) != (
        "promoted",
        PROMOTED_VERSION,
    ):
        problems.append(f"v{PROMOTED_VERSION} was not promoted (last gate decision: {promotion})")
    if not str(summary["bento"]).endswith(f":v{PROMOTED_VERSION}"):
        problems.append(f"the bento does not serve v{PROMOTED_VERSION} ({summary['bento']})")
    return problems
