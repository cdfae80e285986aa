"""Registry: register each champion candidate, let the gate decide, keep rollback one step away."""

import getpass
from typing import Literal

import dagster as dg

from churn_assets.defs.resources import Alerts, ChurnPlatform, MlflowTracking

GROUP = "registry"
GATE_CHECKS = (
    "gate_quality_floors",
    "gate_no_regression",
    "gate_fairness",
    "gate_model_card_complete",
)


def _actor(configured: str) -> str:
    if configured:
        return configured
    try:
        return getpass.getuser()
    except OSError:  # no user name in some containers
        return "dagster"


class GateConfig(dg.Config):
    """The promotion gate: mode, floors, regression margin, fairness limits."""

    mode: Literal["enforce", "dry_run", "force"] = "enforce"
    reason: str = ""  # required for force; recorded in every mode
    actor: str = ""  # who decided; default: the OS user running the step
    min_roc_auc: float = 0.70
    min_pr_auc_lift: float = 2.0  # PR-AUC at least this many times the churn rate
    max_brier: float = 0.20
    regression_margin: float = 0.01
    segment_margin: float = 0.05  # largest AUC loss allowed on any contract slice
    n_bootstrap: int = 500
    # Policy, not physics: on the simulator (where seniors really churn more) the demo
    # champion shows DP 0.08 / EO 0.14 for SeniorCitizen; set these to what your business
    # and regulator accept.
    max_demographic_parity_difference: float = 0.15
    max_equalized_odds_difference: float = 0.20
    seed: int = 42


@dg.asset(
    group_name=GROUP,
    kinds={"mlflow"},
    code_version="1",
    # Every registered version carries the reference monitoring compares its batches with.
    deps=["drift_reference"],
    check_specs=[
        dg.AssetCheckSpec(name, asset="promotion_decision", blocking=True, description=text)
        for name, text in zip(
            GATE_CHECKS,
            (
                "Test ROC-AUC and PR-AUC (as lift over the churn rate) at least, Brier at most, "
                "the configured floors.",
                "Not worse than the current champion by more than the margin (paired bootstrap).",
                "Demographic parity and equalized odds differences within limits.",
                "The model card has every required section, filled from real numbers.",
            ),
            strict=True,
        )
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
    model_card,
):
    """Register the champion candidate (alias `challenger`), run the gate on the test rows
    against the current `champion`, and in `enforce` mode move `champion` only if every
    criterion passes (`dry_run`: decide, change nothing; `force`: override, reason
    required). Every decision is recorded here, as tags on the model version, and on the
    candidate's MLflow run."""
    import mlflow as mlflow_lib
    import numpy as np

    from churn_assets.lib.evaluation.fairness import assess
    from churn_assets.lib.features.engineering import TARGET_COL
    from churn_assets.lib.monitoring.batch import has_reference
    from churn_assets.lib.registry import aliases as registry
    from churn_assets.lib.registry import gate
    from churn_assets.lib.training.champion import score_metrics
    from churn_assets.metadata import markdown

    if config.mode == "force" and not config.reason.strip():
        raise dg.Failure("mode 'force' overrides the gate and requires a `reason` in the config")
    contract = platform.contract()
    champion = champion_candidate
    if not champion.mlflow_model_uri:
        raise dg.Failure("the champion candidate was not logged to MLflow; cannot register it")
    name = platform.registered_model
    actor = _actor(config.actor)
    source_run = mlflow_lib.models.get_model_info(champion.mlflow_model_uri).run_id
    if not source_run or not has_reference(source_run):
        raise dg.Failure(
            "the candidate's MLflow run has no monitoring reference, so it could not be "
            "monitored once promoted: materialize drift_reference first (churn_pipeline does)"
        )

    y = test_set[TARGET_COL].to_numpy()
    p = champion.predict_proba(test_set)
    current = registry.version_by_alias(name, registry.CHAMPION)
    p_current = None
    if current is not None:
        model = mlflow_lib.sklearn.load_model(f"models:/{name}@{registry.CHAMPION}")
        p_current = np.asarray(model.predict_proba(test_set[champion.input_columns]))[:, 1]
    version = registry.register_challenger(
        champion.mlflow_model_uri,
        name,
        {
            "family": champion.family,
            "threshold": str(champion.threshold),
            "calibration": champion.calibration,
            "dagster.run_id": context.run.run_id,
        },
    )
    limits = gate.Floors(config.min_roc_auc, config.min_pr_auc_lift, config.max_brier)
    fairness = assess(
        test_set,
        y,
        champion.predict(test_set),
        list(contract.sensitive),
        config.max_demographic_parity_difference,
        config.max_equalized_odds_difference,
    )
    groups = {
        "gate_quality_floors": gate.floors(score_metrics(y, p), limits, float(y.mean())),
        "gate_no_regression": [
            gate.no_regression(
                y, p, p_current, config.regression_margin, config.n_bootstrap, config.seed
            ),
            gate.no_segment_regression(
                test_set, y, p, p_current, list(contract.slices), config.segment_margin
            ),
        ],
        "gate_fairness": gate.fairness(fairness.summary.to_dict("records")),
        "gate_model_card_complete": [_card_criterion(model_card)],
    }
    criteria = [c for group in groups.values() for c in group]
    decision = gate.decide(criteria, config.mode, config.reason)
    move = None
    if decision.promote:
        move = registry.promote(name, version, actor, decision.reason, decision.as_dict())
    from mlflow import MlflowClient

    client = MlflowClient()
    for key, value in {
        "gate_outcome": decision.outcome,
        "gate_mode": decision.mode,
        "gate_reason": decision.reason,
        "gate_actor": actor,
    }.items():
        client.set_model_version_tag(name, version, key, value)
    if champion.mlflow_run_id:
        from churn_assets.lib.evaluation.model_card import PENDING, to_html

        final_card = model_card.replace(
            PENDING,
            f"**{decision.outcome}** ({decision.mode}) by {actor}: {decision.reason}. "
            f"Registered as `{name}` version {version}.",
        )
        folder = platform.reports_dir() / "model_card" / champion.mlflow_run_id
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "model_card.md").write_text(final_card, encoding="utf-8")
        (folder / "model_card.html").write_text(to_html(final_card, "Model card"), "utf-8")
        with mlflow_lib.start_run(run_id=champion.mlflow_run_id):
            mlflow_lib.log_dict(decision.as_dict(), "promotion_decision.json")
            mlflow_lib.log_artifacts(str(folder), artifact_path="model_card")
        client.set_model_version_tag(name, version, "model_card", "model_card/model_card.md")
    context.log.info(
        f"Gate ({decision.mode}): {decision.outcome} — {name} v{version}; {decision.reason}"
    )
    if move is not None:
        alerts.send(
            "promotion",
            "warning" if decision.mode == "force" else "info",
            f"{name} v{version} is the new champion",
            decision.reason,
            {"previous": move.from_version or "none", "mode": decision.mode, "actor": actor},
        )
    import pandas as pd

    table = pd.DataFrame([c.__dict__ for c in criteria])
    yield dg.MaterializeResult(
        metadata={
            "outcome": decision.outcome,
            "mode": decision.mode,
            "reason": decision.reason,
            "actor": actor,
            "registered_model": name,
            "challenger_version": version,
            "champion_before": str(current.version) if current is not None else "none",
            "champion_after": move.to_version
            if move
            else (str(current.version) if current is not None else "none"),
            "criteria": markdown(table.round(4)),
        }
    )
    for check_name, group in groups.items():
        failed = [c.name for c in group if not c.passed]
        yield dg.AssetCheckResult(
            check_name=check_name,
            asset_key="promotion_decision",
            passed=not failed,
            metadata={
                c.name: dg.MetadataValue.json(
                    {"value": round(c.value, 4), "threshold": c.threshold, "passed": c.passed}
                )
                for c in group
            },
            description=("; ".join(c.detail for c in group))
            + (f" — failed: {failed}" if failed else ""),
        )


def _card_criterion(card: str):
    from churn_assets.lib.evaluation.model_card import missing_sections
    from churn_assets.lib.registry.gate import Criterion

    missing = [s for s in missing_sections(card) if s != "Promotion decision"]
    return Criterion(
        "model_card_complete",
        not missing,
        float(len(missing)),
        0.0,
        f"missing or empty sections: {missing}" if missing else "all sections present",
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
    from churn_assets.lib.registry import aliases as registry

    if not config.reason.strip():
        raise dg.Failure("a rollback needs a `reason`")
    try:
        move = registry.rollback(platform.registered_model, _actor(config.actor), config.reason)
    except registry.RegistryError as exc:
        raise dg.Failure(str(exc)) from exc
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
