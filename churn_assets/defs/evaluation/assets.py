"""Evaluation: the champion candidate measured once on the held-out test rows."""

import dagster as dg

from churn_assets.defs.resources import ChurnPlatform, MlflowTracking


class EvaluationConfig(dg.Config):
    """Bootstrap settings of the evaluation report."""

    n_bootstrap: int = 500
    seed: int = 42


@dg.asset(group_name="evaluation", kinds={"sklearn", "mlflow", "html"}, code_version="1")
def evaluation_report(
    context: dg.AssetExecutionContext,
    config: EvaluationConfig,
    platform: ChurnPlatform,
    mlflow: MlflowTracking,
    champion_candidate,
    test_set,
) -> dg.MaterializeResult:
    """The champion candidate on the held-out test rows: accuracy, precision, recall, F1 (at
    its decision threshold and at 0.5), ROC-AUC, PR-AUC, Brier and log loss, each with a 95%
    bootstrap interval; ROC, precision-recall, reliability, confusion matrix, gain/lift and
    profit plots; metrics per contract slice. One HTML report under CHURN_HOME/reports/
    evaluation/, the same numbers and plots logged to the champion's MLflow run."""
    import mlflow as mlflow_lib

    from churn_assets.lib.evaluation import (
        bootstrap_metrics,
        make_plots,
        segment_metrics,
        write_report,
    )
    from churn_assets.lib.features import TARGET_COL
    from churn_assets.metadata import markdown, png_md

    contract = platform.contract()
    champion = champion_candidate
    y = test_set[TARGET_COL].to_numpy()
    p = champion.predict_proba(test_set)
    metrics = bootstrap_metrics(
        y, p, champion.threshold, n_boot=config.n_bootstrap, seed=config.seed
    )
    segments = segment_metrics(test_set, y, p, champion.threshold, list(contract.slices))
    plots = make_plots(y, p, champion.threshold, champion.costs)
    run_id = champion.mlflow_run_id or "unlogged"
    folder = platform.reports_dir() / "evaluation" / run_id
    summary = {
        "model family": champion.family,
        "calibration": champion.calibration,
        "decision threshold": f"{champion.threshold:.4f}",
        "test rows": f"{len(y):,} ({int(y.sum()):,} churners)",
        "MLflow run": run_id,
        "contract": contract.name,
    }
    report = write_report(
        folder / "evaluation.html",
        f"Evaluation: {champion.family}",
        summary,
        metrics,
        segments,
        plots,
    )
    for name, png in plots.pngs.items():
        (folder / f"{name}.png").write_bytes(png)
    metrics.to_csv(folder / "metrics.csv", index=False)
    segments.to_csv(folder / "segments.csv", index=False)

    if champion.mlflow_run_id:
        mlflow.setup(platform.home_path)
        with mlflow_lib.start_run(run_id=champion.mlflow_run_id):
            mlflow_lib.log_metrics(
                {
                    f"test_{row.metric.replace('@', '_at_')}": float(row.value)
                    for row in metrics.itertuples()
                    if row.value == row.value  # NaN (a single-class slice) is not a metric
                }
            )
            mlflow_lib.log_artifacts(str(folder), artifact_path="evaluation")
    context.log.info(f"Evaluation report: {report}")
    values = metrics.set_index("metric")
    return dg.MaterializeResult(
        metadata={
            "report": dg.MetadataValue.path(str(report)),
            "test_rows": len(y),
            **{
                f"test_{name.replace('@', '_at_')}": round(float(values.loc[name, "value"]), 4)
                for name in ("roc_auc", "pr_auc", "brier", "f1@threshold", "accuracy@threshold")
            },
            "metrics": markdown(metrics.round(4)),
            "segments": markdown(segments.round(4)) if len(segments) else "none",
            **{f"plot_{name}": png_md(png, name) for name, png in plots.pngs.items()},
            "mlflow_run_id": run_id,
        }
    )


class FairnessConfig(dg.Config):
    """Limits on group disparities of the offer decision (absolute differences in rates)."""

    max_demographic_parity_difference: float = 0.15
    max_equalized_odds_difference: float = 0.20


@dg.asset(group_name="evaluation", kinds={"fairlearn"}, code_version="1")
def fairness_report(
    config: FairnessConfig,
    platform: ChurnPlatform,
    champion_candidate,
    test_set,
) -> dg.MaterializeResult:
    """Fairness of the champion's offer decisions on the test rows across the contract's
    sensitive attributes (built-in: gender, SeniorCitizen): selection rate, TPR and FPR per
    group (fairlearn MetricFrame), demographic parity and equalized odds differences against
    the configured limits."""
    from churn_assets.lib.fairness import assess
    from churn_assets.lib.features import TARGET_COL
    from churn_assets.metadata import markdown

    contract = platform.contract()
    champion = champion_candidate
    result = assess(
        test_set,
        test_set[TARGET_COL].to_numpy(),
        champion.predict(test_set),
        list(contract.sensitive),
        config.max_demographic_parity_difference,
        config.max_equalized_odds_difference,
    )
    summary = result.summary.set_index("attribute")
    return dg.MaterializeResult(
        metadata={
            "within_limits": result.passed,
            **{
                f"{attribute}_{short}": round(float(summary.loc[attribute, column]), 4)
                for attribute in summary.index
                for short, column in (
                    ("dp_difference", "demographic_parity_difference"),
                    ("eo_difference", "equalized_odds_difference"),
                )
            },
            "summary": markdown(result.summary.round(4)),
            "by_group": markdown(result.by_group.round(4)),
        }
    )


class ExplanationConfig(dg.Config):
    """How many rows SHAP explains (a bounded sample keeps the cost flat as data grows)."""

    sample_rows: int = 500
    background_rows: int = 200
    seed: int = 42


@dg.asset(group_name="evaluation", kinds={"shap", "mlflow"}, code_version="1")
def explanations(
    context: dg.AssetExecutionContext,
    config: ExplanationConfig,
    platform: ChurnPlatform,
    mlflow: MlflowTracking,
    champion_candidate,
    train_set,
    test_set,
) -> dg.MaterializeResult:
    """SHAP explanations of the champion per contract field (one-hot columns summed back to
    their field): global importance and a beeswarm on a bounded sample of test rows, and
    example per-customer top reasons (the same `FieldExplainer.top_reasons` that serving and
    batch scoring use)."""
    import mlflow as mlflow_lib

    from churn_assets.lib.explain import (
        FieldExplainer,
        beeswarm_png,
        global_importance,
        importance_png,
    )
    from churn_assets.metadata import markdown, png_md

    champion = champion_candidate
    columns = champion.input_columns
    explainer = FieldExplainer(
        champion.model, train_set[columns], config.background_rows, config.seed
    )
    sample = test_set.sample(n=min(config.sample_rows, len(test_set)), random_state=config.seed)
    contributions = explainer.contributions(sample[columns])
    importance = global_importance(contributions)
    pngs = {
        "importance": importance_png(importance),
        "beeswarm": beeswarm_png(contributions, sample[columns]),
    }
    examples = sample.head(5)
    reasons = explainer.top_reasons(examples[columns])
    import pandas as pd

    reason_rows = pd.DataFrame(
        [
            {
                "customer": customer,
                "rank": rank + 1,
                "feature": r["feature"],
                "value": str(r["value"]),
                "contribution": round(r["contribution"], 4),
            }
            for customer, row in zip(examples[platform.contract().id_column], reasons, strict=True)
            for rank, r in enumerate(row)
        ]
    )
    folder = platform.reports_dir() / "explanations" / (champion.mlflow_run_id or "unlogged")
    folder.mkdir(parents=True, exist_ok=True)
    for name, png in pngs.items():
        (folder / f"{name}.png").write_bytes(png)
    importance.to_csv(folder / "global_importance.csv", index=False)
    if champion.mlflow_run_id:
        mlflow.setup(platform.home_path)
        with mlflow_lib.start_run(run_id=champion.mlflow_run_id):
            mlflow_lib.log_artifacts(str(folder), artifact_path="explanations")
    context.log.info(f"Top fields: {', '.join(importance['feature'].head(5))}")
    return dg.MaterializeResult(
        metadata={
            "explainer": explainer.kind,
            "explained_rows": len(sample),
            "top_features": markdown(importance.head(10).round(4)),
            "example_reasons": markdown(reason_rows),
            "plot_importance": png_md(pngs["importance"], "importance"),
            "plot_beeswarm": png_md(pngs["beeswarm"], "beeswarm"),
        }
    )
