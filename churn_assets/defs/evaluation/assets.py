"""Evaluation: the champion candidate measured once on the held-out test rows."""

# (No `from __future__ import annotations`: Dagster resolves the config classes of the asset
# signatures at definition time.)
from typing import TYPE_CHECKING

import dagster as dg

from churn_assets.defs.resources import ChurnPlatform, MlflowTracking, MonitoringSettings
from churn_assets.lib.evaluation.policy import EvaluationPolicy, ExplanationPolicy, FairnessPolicy
from churn_assets.lib.privacy import pseudonym

if TYPE_CHECKING:
    import pandas as pd

    from churn_assets.lib.contract import DataContract


class EvaluationConfig(dg.Config, EvaluationPolicy):
    """Bootstrap settings of the evaluation report."""


@dg.asset(
    group_name="evaluation",
    io_manager_key="artifact_io_manager",
    kinds={"sklearn", "mlflow", "html"},
    code_version="2",
)
def evaluation_report(
    context: dg.AssetExecutionContext,
    config: EvaluationConfig,
    platform: ChurnPlatform,
    mlflow: MlflowTracking,
    champion_candidate,
    test_set,
) -> dg.Output:
    """The champion candidate on the held-out test rows: accuracy, precision, recall, F1 (at
    its decision threshold and at 0.5), ROC-AUC, PR-AUC, Brier and log loss, each with a 95%
    bootstrap interval; ROC, precision-recall, reliability, confusion matrix, gain/lift and
    profit plots; metrics per contract slice. One HTML report under CHURN_HOME/reports/
    evaluation/, the same numbers and plots logged to the champion's MLflow run. Stores the
    numbers and the per-row test scores the promotion gate and the model card use."""
    from churn_assets.defs.metadata import markdown, png_md
    from churn_assets.lib.evaluation.report import evaluate, publish
    from churn_assets.lib.features.engineering import TARGET_COL

    contract = platform.contract()
    champion = champion_candidate
    report = evaluate(champion, test_set, TARGET_COL, list(contract.slices), config)
    run_id = champion.mlflow_run_id or "unlogged"
    summary = {
        "model family": champion.family,
        "calibration": champion.calibration,
        "decision threshold": f"{champion.threshold:.4f}",
        "test rows": f"{len(report.labels):,} ({int(report.labels.sum()):,} churners)",
        "MLflow run": run_id,
        "contract": contract.name,
    }
    folder = platform.reports_dir() / "evaluation" / run_id
    page, pngs = publish(report, folder, summary, champion.costs)
    context.log.info(f"Evaluation report: {page}")
    return dg.Output(
        report,
        metadata={
            "report": dg.MetadataValue.path(str(page)),
            "test_rows": len(report.labels),
            **{
                f"test_{name.replace('@', '_at_')}": round(report.value(name), 4)
                for name in ("roc_auc", "pr_auc", "brier", "f1@threshold", "accuracy@threshold")
            },
            "metrics": markdown(report.metrics.round(4)),
            "segments": markdown(report.segments.round(4)) if len(report.segments) else "none",
            **{f"plot_{name}": png_md(png, name) for name, png in pngs.items()},
            "mlflow_run_id": run_id,
            **({"mlflow_run": mlflow.run_url(run_id)} if champion.mlflow_run_id else {}),
        },
    )


class FairnessConfig(dg.Config, FairnessPolicy):
    """Default limit per fairness criterion and the minimum group sizes (also the promotion
    gate's); the contract's `fairness` mapping chooses the criterion per attribute and wins
    where it declares a limit, bands or minimums (docs/fairness.md)."""


@dg.asset(
    group_name="evaluation",
    io_manager_key="artifact_io_manager",
    kinds={"fairlearn"},
    code_version="3",
)
def fairness_report(
    config: FairnessConfig,
    platform: ChurnPlatform,
    champion_candidate,
    test_set,
) -> dg.Output:
    """Fairness of the champion's offer decisions on the test rows across the contract's
    sensitive attributes (built-in: gender, SeniorCitizen), each judged on the criterion its
    contract chose (default equal opportunity: churners of every group are offered at similar
    rates) with a 95% bootstrap interval; demographic parity and equalized odds reported
    beside it. Numeric attributes are binned; groups too small to judge are listed, not
    judged. The promotion gate takes these verdicts. Also a fairness-vs-profit frontier of
    per-group thresholds (a report to choose with, not a served candidate)."""
    from churn_assets.defs.metadata import markdown, png_md
    from churn_assets.lib.evaluation.fairness import assess_candidate, publish
    from churn_assets.lib.features.engineering import TARGET_COL

    champion = champion_candidate
    contract = platform.contract()
    result = assess_candidate(
        champion, test_set, TARGET_COL, list(contract.sensitive), config, contract.fairness
    )
    run_id = champion.mlflow_run_id or "unlogged"
    published = publish(result, platform.reports_dir() / "fairness" / run_id)
    return dg.Output(
        result,
        metadata={
            "within_limits": result.passed,
            **{
                f"{row['attribute']}_{row['criterion']}_difference": round(row["value"], 4)
                for row in result.summary.to_dict("records")
                if row["value"] == row["value"]  # NaN: not judged (too few groups)
            },
            "verdicts": markdown(
                result.summary[["attribute", "criterion", "verdict", "passed", "detail"]]
            ),
            "summary": markdown(result.summary.drop(columns=["detail"]).round(4)),
            "by_group": markdown(result.by_group.round(4)),
            "folder": dg.MetadataValue.path(str(published.folder)),
            **(
                {"frontier": dg.MetadataValue.md(result.frontier_note)}
                if result.frontier_note
                else {}
            ),
            **{f"plot_{name}": png_md(png, name) for name, png in published.pngs.items()},
        },
    )


class ExplanationConfig(dg.Config, ExplanationPolicy):
    """How many rows SHAP explains (a bounded sample keeps the cost flat as data grows)."""


@dg.asset(group_name="evaluation", kinds={"shap", "mlflow"}, code_version="2")
def explanations(
    context: dg.AssetExecutionContext,
    config: ExplanationConfig,
    platform: ChurnPlatform,
    mlflow: MlflowTracking,
    champion_candidate,
    train_set,
    test_set,
) -> dg.Output:
    """SHAP explanations of the champion per contract field (one-hot columns summed back to
    their field): global importance and a beeswarm on a bounded sample of test rows, and
    example per-customer top reasons (the same `FieldExplainer.top_reasons` that serving and
    batch scoring use). Stores the global importance table (for the model card)."""
    from churn_assets.defs.metadata import markdown, png_md
    from churn_assets.lib.evaluation.explain import UNITS
    from churn_assets.lib.evaluation.shap_report import explain_candidate, publish

    champion = champion_candidate
    contract = platform.contract()
    report = explain_candidate(champion, train_set, test_set, contract.id_column, config)
    run_id = champion.mlflow_run_id
    publish(report, platform.reports_dir() / "explanations" / (run_id or "unlogged"), run_id)
    context.log.info(f"Top fields: {', '.join(report.importance['feature'].head(5))}")
    return dg.Output(
        report.importance,
        metadata={
            "explainer": report.explainer,
            # Every family's contributions are in this unit (lib/evaluation/explain.py).
            "units": UNITS,
            "explained_rows": report.explained_rows,
            "top_features": markdown(report.importance.head(10).round(4)),
            "example_reasons": markdown(_private_reasons(report.example_reasons, contract)),
            **{f"plot_{name}": png_md(png, name) for name, png in report.pngs.items()},
        },
    )


@dg.asset(
    group_name="evaluation",
    io_manager_key="artifact_io_manager",
    kinds={"markdown", "mlflow"},
    code_version="2",
)
def model_card(
    platform: ChurnPlatform,
    mlflow: MlflowTracking,
    champion_candidate,
    validated_customers,
    quarantined_customers,
    train_set,
    validation_set,
    test_set,
    evaluation_report,
    fairness_report,
    explanations,
) -> dg.Output:
    """The champion candidate's model card (Markdown + HTML) from the real numbers: intended
    use, data, features, training procedure, test metrics with intervals (the numbers the
    evaluation logged to MLflow), slices, fairness, top features, limitations; the promotion
    decision is filled in by the gate. Built from its asset inputs only; logged to the
    candidate's MLflow run."""
    from churn_assets.lib.evaluation.model_card import (
        build_card,
        card_folder,
        incomplete_sections,
        publish_card,
    )
    from churn_assets.lib.evaluation.report import stale_reports
    from churn_assets.lib.features.engineering import TARGET_COL

    champion = champion_candidate
    run_id = champion.mlflow_run_id
    if not run_id:
        raise dg.Failure(
            "the champion candidate has no MLflow run: nothing to build a card from",
            allow_retries=False,
        )
    reports = {"evaluation_report": evaluation_report, "fairness_report": fairness_report}
    if stale := stale_reports(champion.mlflow_model_uri, reports):
        raise dg.Failure(
            f"{' and '.join(stale)} measured another model: materialize them again",
            allow_retries=False,
        )
    card = build_card(
        model_name=platform.registered_model,
        champion=champion,
        contract=platform.contract(),
        data_source=platform.shown_uri(),
        evaluation=evaluation_report,
        fairness=fairness_report,
        importance=explanations,
        validated=validated_customers,
        quarantined_rows=len(quarantined_customers),
        splits={"train": train_set, "validation": validation_set, "test": test_set},
        target=TARGET_COL,
    )
    page = publish_card(card, card_folder(platform.reports_dir(), run_id), run_id)
    return dg.Output(
        card,
        metadata={
            "path": dg.MetadataValue.path(str(page)),
            "missing_sections": dg.MetadataValue.json(incomplete_sections(card)),
            "card": dg.MetadataValue.md(card),
            "mlflow_run": mlflow.run_url(run_id),
        },
    )


@dg.asset(group_name="evaluation", kinds={"pandas", "mlflow"}, code_version="1")
def drift_reference(
    platform: ChurnPlatform,
    mlflow: MlflowTracking,
    monitoring: MonitoringSettings,
    champion_candidate,
    train_set,
    validation_set,
    test_set,
) -> dg.Output:
    """The rows the champion candidate was built from (train, validation, test; labels on the
    held-out test rows only), logged with its MLflow run. Monitoring compares every landed
    month with the reference of the model that is champion, so a rejected retraining does
    not move it, and the reference ROC-AUC is the honest test ROC-AUC."""
    from churn_assets.lib.features.engineering import TARGET_COL
    from churn_assets.lib.monitoring.reference import SPLIT_COLUMN, log_reference, reference_frame

    run_id = champion_candidate.mlflow_run_id
    if not run_id:
        raise dg.Failure(
            "the champion candidate has no MLflow run to log its reference to", allow_retries=False
        )
    contract = platform.contract()
    frame = reference_frame(
        {"train": train_set, "validation": validation_set, "test": test_set},
        contract.feature_columns,
        TARGET_COL,
        max_rows=monitoring.max_rows,
    )
    uri = log_reference(frame, run_id)
    counts = frame[SPLIT_COLUMN].value_counts()
    return dg.Output(
        frame,
        metadata={
            "rows": len(frame),
            **{
                f"{split}_rows": int(counts.get(split, 0))
                for split in ("train", "validation", "test")
            },
            "labelled_rows": int(frame[TARGET_COL].notna().sum()),
            "artifact": uri,
        },
    )


def _private_reasons(reasons: "pd.DataFrame", contract: "DataContract") -> "pd.DataFrame":
    """Example reasons under the contract's previews rule: the customer as its pseudonym (or
    left out), a sensitive field's value hidden unless the rule keeps it."""
    policy = contract.privacy
    shown = reasons.copy()
    action = policy.action("previews", contract.id_column)
    if action == "drop":
        shown = shown.drop(columns=["customer"])
    elif action == "hash":
        shown["customer"] = shown["customer"].map(pseudonym)
    hidden = shown["feature"].map(lambda f: policy.action("previews", f) != "keep")
    shown.loc[hidden, "value"] = "(withheld)"
    return shown
