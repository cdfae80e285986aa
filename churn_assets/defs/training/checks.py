"""Behavioural checks on the champion candidate (blocking: they gate promotion)."""

import dagster as dg

from churn_assets.defs.resources import ChurnPlatform
from churn_assets.lib.training.policy import BehaviourPolicy


class BehaviourConfig(dg.Config, BehaviourPolicy):
    """What the model must (not) be sensitive to. Directions name contract fields and values;
    a rule whose field the contract lacks is skipped and reported."""


@dg.asset_check(
    asset="champion_candidate",
    additional_ins={"validation_set": dg.AssetIn()},
    blocking=True,
    description="Invariance, directional expectations and slice floors on validation rows.",
)
def behavioural_tests(
    config: BehaviourConfig,
    platform: ChurnPlatform,
    champion_candidate,
    validation_set,
) -> dg.AssetCheckResult:
    """Behavioural tests of the champion candidate; any failing test fails the check."""
    import pandas as pd

    from churn_assets.defs.metadata import markdown
    from churn_assets.lib.features.engineering import TARGET_COL
    from churn_assets.lib.training.behaviour import Direction, directional, invariance, slice_floors

    contract = platform.contract()
    model = champion_candidate

    # Scoring through the candidate selects its input fields: the id column is passed along
    # exactly as a caller would pass it.
    def score(frame: pd.DataFrame):
        return model.predict_proba(frame)

    rows = validation_set
    verdicts = [
        invariance(
            score, rows, field, config.invariance_tolerance if field != contract.id_column else 0.0
        )
        for field in [contract.id_column, *config.invariant_fields]
    ]
    verdicts += [
        directional(
            score, rows, Direction(**rule), config.direction_tolerance, config.max_violation_share
        )
        for rule in config.directions
    ]
    verdicts += slice_floors(
        score(rows),
        rows[TARGET_COL].to_numpy(),
        rows,
        list(contract.slices),
        config.min_slice_auc,
        config.min_slice_rows,
    )
    table = pd.DataFrame([v.__dict__ for v in verdicts])
    failed = [v.name for v in verdicts if not v.passed]
    return dg.AssetCheckResult(
        passed=not failed,
        metadata={
            "value": len(failed),
            "threshold": 0,
            "tests": len(verdicts),
            "results": markdown(table.round(4)),
        },
        description=f"{len(verdicts) - len(failed)}/{len(verdicts)} behavioural tests passed"
        + (f"; failed: {failed}" if failed else ""),
    )
