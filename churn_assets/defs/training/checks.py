"""Behavioural checks on the champion candidate (blocking: they gate promotion)."""

import dagster as dg

from churn_assets.defs.resources import ChurnPlatform
from churn_assets.lib.training.policy import BehaviourPolicy


class BehaviourConfig(dg.Config, BehaviourPolicy):
    """What the model must (not) be sensitive to. Invariant fields and directions name
    contract features and values; a rule naming anything else fails the check, naming it."""


@dg.asset_check(
    asset="champion_candidate",
    additional_ins={"validation_set": dg.AssetIn()},
    blocking=True,
    description=(
        "Inputs are contract features, batch invariance, invariance of configured fields, "
        "directional expectations and slice floors on validation rows."
    ),
)
def behavioural_tests(
    config: BehaviourConfig,
    platform: ChurnPlatform,
    champion_candidate,
    validation_set,
) -> dg.AssetCheckResult:
    """Behavioural tests of the champion candidate; any failing test fails the check, and so
    does a rule that names a field or value the contract or the rows lack."""
    import pandas as pd

    from churn_assets.defs.metadata import markdown
    from churn_assets.lib.features.engineering import TARGET_COL
    from churn_assets.lib.training import behaviour

    contract = platform.contract()
    model = champion_candidate
    rules = [*contract.directions, *config.directions]
    directions = [behaviour.Direction(**rule) for rule in rules]

    # Scoring through the candidate selects its input fields, as a caller's rows would be.
    def score(frame: pd.DataFrame):
        return model.predict_proba(frame)

    rows = validation_set
    try:
        behaviour.check_rules(contract, config.invariant_fields, directions)
        verdicts = [
            behaviour.inputs_are_features(model.input_columns, contract),
            behaviour.batch_invariance(score, rows),
        ]
        verdicts += [
            behaviour.invariance(score, rows, field, config.invariance_tolerance)
            for field in config.invariant_fields
        ]
        verdicts += [
            behaviour.directional(
                score, rows, rule, config.direction_tolerance, config.max_violation_share
            )
            for rule in directions
        ]
    except behaviour.BehaviourRuleError as exc:
        # A rule that cannot be judged is a failed check (blocking), not a silent pass.
        return dg.AssetCheckResult(
            passed=False,
            metadata={"value": 1, "threshold": 0, "rule_error": str(exc)},
            description=str(exc),
        )
    verdicts += behaviour.slice_floors(
        score(rows),
        rows[TARGET_COL].to_numpy(),
        rows,
        list(contract.slices),
        config.min_slice_auc,
        config.min_slice_rows,
        config.min_slice_per_class,
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
