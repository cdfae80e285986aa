"""Registry: register each champion candidate, let the gate decide, keep rollback one step away."""

import dagster as dg

from churn_assets.defs.resources import Alerts, ChurnPlatform, MlflowTracking
from churn_assets.lib.registry.policy import CHECKS, GatePolicy, Mode

GROUP = "registry"


class GateConfig(dg.Config, GatePolicy):
    """The promotion gate: mode, floors, regression margins (fairness limits are
    fairness_report's)."""

    mode: Mode = "enforce"
    reason: str = ""  # required for force; recorded in every mode
    actor: str = ""  # who decided; default: the OS user running the step


@dg.asset(
    group_name=GROUP,
    kinds={"mlflow"},
    code_version="2",
    # Every registered version carries the reference monitoring compares its batches with.
    deps=["drift_reference"],
    check_specs=[
        dg.AssetCheckSpec(name, asset="promotion_decision", blocking=True, description=text)
        for name, text in CHECKS.items()
    ],
)
def promotion_decision(
    context: dg.AssetExecutionContext,
    config: GateConfig,
    platform: ChurnPlatform,
    mlflow: MlflowTracking,
    alerts: Alerts,
    champion_candidate,
    test_set,
    evaluation_report,
    fairness_report,
    model_card,
):
    """Register the champion candidate (alias `challenger`), judge it on the numbers of
    evaluation_report and fairness_report against the current `champion`, and in `enforce`
    mode move `champion` only if every criterion passes (`dry_run`: decide, change nothing;
    `force`: override, reason required). Every decision is recorded here, as tags on the
    model version, and on the candidate's MLflow run."""
    import pandas as pd

    from churn_assets.defs.metadata import markdown
    from churn_assets.lib.evaluation.model_card import card_folder
    from churn_assets.lib.registry.promotion import GateError, resolve_actor, run_gate

    contract = platform.contract()
    try:
        outcome = run_gate(
            champion=champion_candidate,
            evaluation=evaluation_report,
            fairness=fairness_report,
            card=model_card,
            test_set=test_set,
            slices=list(contract.slices),
            policy=config,
            mode=config.mode,
            reason=config.reason,
            actor=resolve_actor(config.actor),
            name=platform.registered_model,
            tags={"dagster.run_id": context.run.run_id},
            card_folder=card_folder(platform.reports_dir(), champion_candidate.mlflow_run_id),
        )
    except GateError as exc:
        raise dg.Failure(str(exc), allow_retries=False) from exc
    decision, name, version = outcome.decision, outcome.name, outcome.version
    context.log.info(
        f"Gate ({decision.mode}): {decision.outcome} — {name} v{version}; {decision.reason}"
    )
    if outcome.move is not None:
        alerts.send(
            "promotion",
            "warning" if decision.mode == "force" else "info",
            f"{name} v{version} is the new champion",
            decision.reason,
            {
                "previous": outcome.move.from_version or "none",
                "mode": decision.mode,
                "actor": outcome.actor,
            },
        )
    yield dg.MaterializeResult(
        metadata={
            "outcome": decision.outcome,
            "mode": decision.mode,
            "reason": decision.reason,
            "actor": outcome.actor,
            "registered_model": name,
            "challenger_version": version,
            "champion_before": outcome.champion_before or "none",
            "champion_after": outcome.champion_after or "none",
            "criteria": markdown(pd.DataFrame([c.__dict__ for c in decision.criteria]).round(4)),
        }
    )
    for check_name, (passed, evidence, detail) in outcome.checks().items():
        yield dg.AssetCheckResult(
            check_name=check_name,
            asset_key="promotion_decision",
            passed=passed,
            metadata={k: dg.MetadataValue.json(v) for k, v in evidence.items()},
            description=detail,
        )


class RollbackConfig(dg.Config):
    """Why the champion is being rolled back (required) and by whom."""

    reason: str
    actor: str = ""


@dg.asset(group_name=GROUP, kinds={"mlflow"}, code_version="1")
def champion_rollback(
    context: dg.AssetExecutionContext,
    config: RollbackConfig,
    platform: ChurnPlatform,
    mlflow: MlflowTracking,
    alerts: Alerts,
) -> dg.MaterializeResult:
    """Move the `champion` alias back to the version the current champion replaced, with who,
    when and why recorded on both versions. Run it with the `rollback_champion` job."""
    from churn_assets.lib.registry import aliases
    from churn_assets.lib.registry.promotion import resolve_actor

    if not config.reason.strip():
        raise dg.Failure("a rollback needs a `reason`", allow_retries=False)
    try:
        move = aliases.rollback(
            platform.registered_model, resolve_actor(config.actor), config.reason
        )
    except aliases.RegistryError as exc:
        raise dg.Failure(str(exc), allow_retries=False) from exc
    context.log.info(f"Rolled back {move.name}: v{move.from_version} -> v{move.to_version}")
    alerts.send(
        "rollback",
        "warning",
        f"{move.name} rolled back to v{move.to_version}",
        move.reason,
        {"from": move.from_version or "none", "actor": move.actor},
    )
    return dg.MaterializeResult(
        metadata={
            "registered_model": move.name,
            "from_version": move.from_version or "none",
            "to_version": move.to_version,
            "actor": move.actor,
            "reason": move.reason,
            "at": move.at,
        }
    )
