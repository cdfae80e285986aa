"""Monitoring: each landed month is validated, scored by the champion and compared with the
rows that champion was built from (its reference, logged with it); a re-evaluation of the
champion on every labelled month runs on demand.

The monthly assets are partitioned by month (a dynamic partition added by the landing
sensor) and update themselves through declarative automation: a new `landed_batch` partition
is scored, then drift-checked, unless a blocking check failed on the way.
"""

import dagster as dg
from dagster_aws.s3 import S3Resource

from churn_assets.defs.resources import Alerts, ChurnPlatform, MlflowTracking, MonitoringSettings

GROUP = "monitoring"
MONTHS = dg.DynamicPartitionsDefinition(name="months")
FILE_TAG = "churn/file"  # run tag naming the landed file (set by the landing sensor)
MONITORING_EXPERIMENT = "churn-monitoring"
# Update when a parent updates, but never past a failed blocking check (a batch that failed
# validation is not scored; a missing champion is not guessed).
AFTER_PARENTS = (
    dg.AutomationCondition.eager() & dg.AutomationCondition.all_deps_blocking_checks_passed()
)


def _landed_file(context: dg.AssetExecutionContext, platform: ChurnPlatform, s3: S3Resource):
    from churn_assets.lib.ingestion.months import month_of
    from churn_assets.lib.ingestion.stores import open_store

    uri = platform.parsed_uri()
    if uri.scheme == "sim":
        raise dg.Failure(
            "monthly batches land in a folder or S3 prefix: set CHURN_DATA_URI to one "
            "(the built-in simulator has no landing location)"
        )
    store = open_store(uri, s3.get_client)
    month = context.partition_key
    wanted = context.run.tags.get(FILE_TAG)
    files = [f for f in store.list_files() if month_of(f.name) == month]
    if wanted:
        files = [f for f in files if f.name == wanted]
    if len(files) != 1:
        names = [f.name for f in files]
        raise dg.Failure(
            f"month {month}: expected exactly one file in {store.description}, found {names}"
        )
    return store, files[0]


def _reference(context: dg.AssetExecutionContext, champion, train_set):
    """The champion's reference rows and where they came from.

    A version registered before references were logged has none: its batches are then
    compared with the current `train_set` (labels on every row, so the reference ROC-AUC is
    the optimistic training one), with a warning, rather than not monitored at all. The
    next version the gate promotes brings its own.
    """
    from churn_assets.lib.monitoring.batch import SPLIT_COLUMN, load_reference

    try:
        return load_reference(champion.slot), f"logged with v{champion.version}"
    except LookupError as exc:
        context.log.warning(f"{exc}; falling back to the current train_set")
        return train_set.assign(**{SPLIT_COLUMN: "train"}), "current train_set (fallback)"


@dg.asset(
    partitions_def=MONTHS,
    group_name=GROUP,
    kinds={"pandas", "parquet"},
    code_version="1",
    check_specs=[
        dg.AssetCheckSpec(
            "batch_rejected_share_within_limit",
            asset="landed_batch",
            blocking=True,
            description="The share of quarantined rows is within the contract's limit.",
            # Per month: a failed month must not block the automation of the others.
            partitions_def=MONTHS,
        )
    ],
)
def landed_batch(context: dg.AssetExecutionContext, platform: ChurnPlatform, s3: S3Resource):
    """One month's file from the landing location, validated by the data contract: the valid
    rows (quarantined rows are kept beside the reports with their reasons). Materialized once
    per landed file by the `landing_sensor`."""
    from churn_assets.lib.hashing import frame_hash
    from churn_assets.lib.ingestion.readers import add_snapshot_from_name, read_table
    from churn_assets.lib.ingestion.validation import validate_frame
    from churn_assets.metadata import markdown, preview

    contract = platform.contract()
    store, file = _landed_file(context, platform, s3)
    raw = add_snapshot_from_name(
        read_table(store.read_bytes(file), file.name), file.name, contract.event_time
    )
    result = validate_frame(raw, contract, source=file.name)
    quarantine = platform.home_path / "quarantine" / f"{context.partition_key}.parquet"
    if len(result.quarantined):
        quarantine.parent.mkdir(parents=True, exist_ok=True)
        result.quarantined.astype(str).to_parquet(quarantine, index=False)
    share = result.rejected_share
    context.log.info(
        f"{file.name}: {len(result.valid):,} valid rows, {len(result.quarantined):,} quarantined"
    )
    yield dg.Output(
        result.valid,
        data_version=dg.DataVersion(frame_hash(result.valid)),
        metadata={
            "file": file.name,
            "file_version": file.version,
            "rows": len(raw),
            "valid_rows": len(result.valid),
            "quarantined_rows": len(result.quarantined),
            "rejected_share": round(share, 5),
            "quarantine": dg.MetadataValue.path(str(quarantine)) if len(result.quarantined) else "",
            "reasons": markdown(result.reason_counts()) if len(result.quarantined) else "none",
            "preview": preview(result.valid),
        },
    )
    yield dg.AssetCheckResult(
        check_name="batch_rejected_share_within_limit",
        passed=share <= contract.max_rejected_share,
        metadata={"value": round(share, 5), "threshold": contract.max_rejected_share},
    )


@dg.asset(
    partitions_def=MONTHS,
    group_name=GROUP,
    kinds={"pandas", "parquet", "shap"},
    code_version="2",
    automation_condition=AFTER_PARENTS,
)
def batch_scores(
    context: dg.AssetExecutionContext,
    platform: ChurnPlatform,
    mlflow: MlflowTracking,
    monitoring: MonitoringSettings,
    landed_batch,
    train_set,  # only a fallback; see _reference
):
    """Every customer of the month scored by the current champion (the same compiled scorer
    the service uses): churn probability, label at the decision threshold, risk tier, model
    version and the top reasons (SHAP per contract field)."""
    from churn_assets.lib.monitoring.batch import SPLIT_COLUMN, load_champion, score_batch
    from churn_assets.metadata import preview

    contract = platform.contract()
    try:
        champion = load_champion(platform.registered_model, contract)
    except LookupError as exc:
        raise dg.Failure(str(exc)) from exc
    explainer = None
    if monitoring.top_reasons > 0:
        from churn_assets.lib.evaluation.explain import FieldExplainer

        reference, _ = _reference(context, champion, train_set)
        background = reference[reference[SPLIT_COLUMN] == "train"]
        explainer = FieldExplainer(champion.model, background[contract.feature_columns])
    scores = score_batch(
        landed_batch, contract, champion, explainer=explainer, top_k=monitoring.top_reasons
    )
    tiers = scores["risk_tier"].value_counts()
    context.log.info(
        f"Scored {len(scores):,} customers with {platform.registered_model} v{champion.version}"
    )
    return dg.Output(
        scores,
        metadata={
            "rows": len(scores),
            "model_version": champion.version,
            "family": champion.slot.family,
            "threshold": champion.slot.threshold,
            "predicted_churn_rate": round(float(scores["churn"].mean()), 4),
            "mean_probability": round(float(scores["churn_probability"].mean()), 4),
            **{f"tier_{tier}": int(tiers.get(tier, 0)) for tier in ("high", "medium", "low")},
            "preview": preview(scores.sort_values("churn_probability", ascending=False)),
        },
    )


DRIFT_CHECKS = {
    "drift_share_within_limit": "Share of drifted features below the configured limit.",
    "prediction_drift_within_limit": "The score distribution has not drifted.",
    "performance_within_limit": "ROC-AUC on the labelled rows has not dropped past the limit.",
}


@dg.asset(
    partitions_def=MONTHS,
    group_name=GROUP,
    kinds={"evidently", "mlflow"},
    code_version="2",
    automation_condition=AFTER_PARENTS,
    deps=["batch_scores"],  # a month is drift-checked once it is scored
    check_specs=[
        dg.AssetCheckSpec(name, asset="drift_report", description=text)
        for name, text in DRIFT_CHECKS.items()
    ],
)
def drift_report(
    context: dg.AssetExecutionContext,
    platform: ChurnPlatform,
    mlflow: MlflowTracking,
    monitoring: MonitoringSettings,
    alerts: Alerts,
    landed_batch,
    train_set,  # only a fallback; see _reference
):
    """Evidently report of the month against the champion's reference (the rows it was built
    from, logged with it): data drift per feature (effect sizes, so a tiny shift over a
    million rows does not alarm), prediction drift of the champion's scores and, where the
    month carries labels, ROC-AUC against the champion's held-out test ROC-AUC. Numbers here
    and in MLflow; the HTML under CHURN_HOME/reports/drift; Prometheus gauges under
    CHURN_HOME/monitoring/prometheus; an alert on a breach."""
    import mlflow as mlflow_lib

    from churn_assets.lib.features.engineering import TARGET_COL
    from churn_assets.lib.monitoring import drift, prometheus
    from churn_assets.lib.monitoring.batch import load_champion
    from churn_assets.lib.monitoring.drift import drift_report as run_report
    from churn_assets.metadata import markdown

    contract = platform.contract()
    month = context.partition_key
    champion = load_champion(platform.registered_model, contract)
    rows, reference_source = _reference(context, champion, train_set)
    reference = rows[contract.feature_columns].copy()
    reference["_score"] = champion.scorer.predict_proba(reference)
    reference["_label"] = rows[TARGET_COL].to_numpy()  # held-out rows only (NaN elsewhere)
    current = landed_batch[contract.feature_columns].copy()
    # Scored here (the compiled scorer: milliseconds per thousand rows) rather than read from
    # batch_scores, so both sides come from the same model even when the month's scores
    # predate a promotion or a rollback.
    current["_score"] = champion.scorer.predict_proba(current)
    if contract.target.column in landed_batch:  # the contract's labels; drift encodes them
        current["_label"] = landed_batch[contract.target.column].to_numpy()
    html = platform.reports_dir() / "drift" / month / "drift_report.html"
    config = monitoring.drift_config()
    result = run_report(
        reference,
        current,
        contract,
        config,
        score_column="_score",
        label_column="_label" if "_label" in current else None,
        html_path=html,
    )
    numbers = result.to_metadata(per_column=False)
    numbers["model_version"] = champion.version
    numbers["reference"] = reference_source

    with mlflow.start_run(
        context,
        f"drift-{month}",
        tags={"batch": month, "model_version": numbers["model_version"]},
        experiment=MONITORING_EXPERIMENT,
    ) as run:
        mlflow_lib.log_metrics({k: v for k, v in numbers.items() if isinstance(v, float)})
        mlflow_lib.log_table(result.features, "drift_features.json")
        mlflow_lib.log_artifact(str(html))
    prometheus.write_textfile(
        prometheus.default_textfile_path(f"churn_drift_{month}.prom", platform.home_path),
        prometheus.drift_samples(
            month,
            {
                "drifted_share": result.drifted_share,
                "n_drifted": result.n_drifted,
                "prediction_drift_score": result.prediction_drift_score,
                "current_rows": result.current_rows,
                "roc_auc_current": (result.performance or {}).get("current_roc_auc"),
                "roc_auc_drop": (result.performance or {}).get("roc_auc_drop"),
                "breached": result.breached,
            },
            numbers["model_version"],
        ),
    )
    if result.breached:
        context.log.warning(f"Drift breach in {month}: {result.breaches}")
        alerts.send(
            "drift_breach",
            "warning",
            f"Drift breach in {month}",
            "; ".join(result.breaches.values()),
            {
                "batch": month,
                "model_version": numbers["model_version"],
                "drifted": ", ".join(result.drifted_columns),
            },
        )
    performance = result.performance or {}
    yield dg.MaterializeResult(
        metadata={
            **numbers,
            "breaches": dg.MetadataValue.json(result.breaches),
            "drifted_columns": ", ".join(result.drifted_columns) or "none",
            "features": markdown(result.features.round(4)),
            "report": dg.MetadataValue.path(str(html)),
            "mlflow_run": mlflow.run_url(run.info.run_id, MONITORING_EXPERIMENT),
        }
    )
    yield dg.AssetCheckResult(
        check_name="drift_share_within_limit",
        passed=drift.DATA_DRIFT not in result.breaches,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"value": result.drifted_share, "threshold": config.drifted_share_limit},
    )
    yield dg.AssetCheckResult(
        check_name="prediction_drift_within_limit",
        passed=drift.PREDICTION_DRIFT not in result.breaches,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "value": result.prediction_drift_score or 0.0,
            "threshold": config.prediction_threshold,
        },
    )
    yield dg.AssetCheckResult(
        check_name="performance_within_limit",
        passed=drift.PERFORMANCE_DROP not in result.breaches,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "value": performance.get("roc_auc_drop", 0.0),
            "threshold": config.performance_drop_limit,
            "labelled": bool(performance),
        },
    )


@dg.asset(
    group_name=GROUP,
    kinds={"pandas"},
    code_version="1",
    # Months whose batch failed validation have no table; evaluate the others.
    ins={"landed_batch": dg.AssetIn(metadata={"allow_missing_partitions": True})},
)
def model_health(
    context: dg.AssetExecutionContext,
    platform: ChurnPlatform,
    mlflow: MlflowTracking,
    monitoring: MonitoringSettings,
    landed_batch,
):
    """The current champion re-evaluated on every landed month that carries labels: ROC-AUC
    per month next to the ROC-AUC it had on its own test rows. Requested by the retraining
    sensor when one month breaches (drift alone re-evaluates; only confirmed breaches
    retrain), and runnable by hand."""
    import pandas as pd

    from churn_assets.lib.monitoring.batch import labelled_auc, load_champion
    from churn_assets.metadata import markdown

    contract = platform.contract()
    champion = load_champion(platform.registered_model, contract)
    from mlflow import MlflowClient

    run = (
        MlflowClient().get_run(champion.slot.mlflow_run_id) if champion.slot.mlflow_run_id else None
    )
    test_auc = (run.data.metrics.get("test_roc_auc") if run else None) or None
    batches = landed_batch if isinstance(landed_batch, dict) else {"all": landed_batch}
    rows = []
    for month in sorted(batches):
        frame = batches[month]
        scores = champion.scorer.predict_proba(frame[contract.feature_columns])
        auc = labelled_auc(frame, scores, contract)
        rows.append(
            {
                "month": month,
                "rows": len(frame),
                "roc_auc": auc,
                "drop_vs_test": None if auc is None or test_auc is None else test_auc - auc,
                "mean_score": float(scores.mean()) if len(scores) else None,
            }
        )
    table = pd.DataFrame(rows)
    latest = table.dropna(subset=["roc_auc"]).tail(1)
    drop = float(latest["drop_vs_test"].iloc[0]) if len(latest) and test_auc else None
    context.log.info(f"Champion v{champion.version} per month:\n{table.to_string(index=False)}")
    return dg.MaterializeResult(
        metadata={
            "model_version": champion.version,
            "test_roc_auc": test_auc if test_auc is not None else float("nan"),
            "latest_month": str(latest["month"].iloc[0]) if len(latest) else "none",
            "latest_roc_auc": float(latest["roc_auc"].iloc[0]) if len(latest) else float("nan"),
            "latest_drop": drop if drop is not None else float("nan"),
            "degraded": bool(drop is not None and drop >= monitoring.performance_drop_limit),
            "months": markdown(table.round(4)),
        }
    )
