"""Evaluation: the champion candidate measured once on the held-out test rows."""

import dagster as dg

from churn_assets.defs.resources import ChurnPlatform, MlflowTracking, MonitoringSettings


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

    from churn_assets.lib.evaluation.metrics import (
        bootstrap_metrics,
        make_plots,
        segment_metrics,
        write_report,
    )
    from churn_assets.lib.features.engineering import TARGET_COL
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
    from churn_assets.lib.evaluation.fairness import assess
    from churn_assets.lib.features.engineering import TARGET_COL
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
    folder = platform.reports_dir() / "fairness" / (champion.mlflow_run_id or "unlogged")
    folder.mkdir(parents=True, exist_ok=True)
    result.summary.to_csv(folder / "summary.csv", index=False)
    result.by_group.to_csv(folder / "by_group.csv", index=False)
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

    from churn_assets.lib.evaluation.explain import (
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


@dg.asset(
    group_name="evaluation",
    io_manager_key="artifact_io_manager",
    kinds={"markdown", "mlflow"},
    code_version="1",
    deps=["evaluation_report", "fairness_report", "explanations"],
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
) -> dg.Output:
    """The champion candidate's model card (Markdown + HTML) from the real numbers: intended
    use, data, features, training procedure, test metrics with intervals (read back from the
    MLflow run the evaluation logged them to), slices, fairness, top features, limitations;
    the promotion decision is filled in by the gate. Logged to the candidate's MLflow run."""
    import mlflow as mlflow_lib
    import pandas as pd
    from mlflow import MlflowClient

    from churn_assets.lib.evaluation.model_card import CardInputs, missing_sections, render, to_html
    from churn_assets.lib.features.engineering import TARGET_COL

    contract = platform.contract()
    champion = champion_candidate
    run_id = champion.mlflow_run_id
    if not run_id:
        raise dg.Failure("the champion candidate has no MLflow run: nothing to build a card from")
    client = MlflowClient()
    run = client.get_run(run_id)
    reports = platform.reports_dir()
    evaluation = pd.read_csv(reports / "evaluation" / run_id / "metrics.csv")
    # Values from MLflow itself, so the card and the tracking server cannot disagree.
    logged = run.data.metrics
    evaluation["value"] = [
        logged.get(f"test_{m.replace('@', '_at_')}", float("nan")) for m in evaluation["metric"]
    ]
    source_run = run.data.tags.get("source_run_id")
    params = (
        {
            k.removeprefix("best."): v
            for k, v in client.get_run(source_run).data.params.items()
            if k.startswith("best.")
        }
        if source_run
        else {}
    )
    period = "n/a"
    if contract.event_time and contract.event_time in validated_customers:
        times = validated_customers[contract.event_time]
        period = f"{times.min():%Y-%m-%d} to {times.max():%Y-%m-%d}"
    inputs = CardInputs(
        model_name=platform.registered_model,
        family=champion.family,
        calibration=champion.calibration,
        threshold=champion.threshold,
        f1_threshold=champion.threshold_choice.f1_threshold,
        costs={
            "offer_cost": champion.costs.offer_cost,
            "retained_value": champion.costs.retained_value,
            "success_rate": champion.costs.success_rate,
        },
        best_params=params,
        mlflow_run_id=run_id,
        contract_name=contract.name,
        contract_table=contract.describe()[["column", "dtype", "role", "description"]],
        data={
            "source": platform.data_uri,
            "rows": len(validated_customers),
            "quarantined": len(quarantined_customers),
            "period": period,
            "positive_rate": float(
                pd.concat([train_set, validation_set, test_set])[TARGET_COL].mean()
            ),
            "train": len(train_set),
            "validation": len(validation_set),
            "test": len(test_set),
        },
        test_metrics=evaluation.round(4),
        segments=pd.read_csv(reports / "evaluation" / run_id / "segments.csv").round(4),
        fairness=pd.read_csv(reports / "fairness" / run_id / "summary.csv").round(4),
        top_features=pd.read_csv(reports / "explanations" / run_id / "global_importance.csv")
        .head(10)
        .round(4),
    )
    card = render(inputs)
    folder = reports / "model_card" / run_id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model_card.md").write_text(card, encoding="utf-8")
    (folder / "model_card.html").write_text(to_html(card, "Model card"), encoding="utf-8")
    with mlflow_lib.start_run(run_id=run_id):
        mlflow_lib.log_artifacts(str(folder), artifact_path="model_card")
    missing = [s for s in missing_sections(card) if s != "Promotion decision"]
    return dg.Output(
        card,
        metadata={
            "path": dg.MetadataValue.path(str(folder / "model_card.html")),
            "missing_sections": dg.MetadataValue.json(missing),
            "card": dg.MetadataValue.md(card),
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
    from churn_assets.lib.monitoring.batch import SPLIT_COLUMN, log_reference, reference_frame

    run_id = champion_candidate.mlflow_run_id
    if not run_id:
        raise dg.Failure("the champion candidate has no MLflow run to log its reference to")
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
