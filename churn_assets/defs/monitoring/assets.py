"""Monitoring: each landed month is validated, scored by the champion and compared with the
rows that champion was built from (its reference, logged with it); a re-evaluation of the
champion on every labelled month runs on demand.

The monthly assets are partitioned by month (a dynamic partition added by the landing
sensor) and update themselves through declarative automation: a new `landed_batch` partition
is scored, then drift-checked, unless a blocking check failed on the way, and only once a
champion is served (see `AFTER_PARENTS`).
"""

import dagster as dg
from dagster_aws.s3 import S3Resource

from churn_assets.defs.resources import Alerts, ChurnPlatform, MlflowTracking, MonitoringSettings
from churn_assets.lib import settings
from churn_assets.lib.monitoring.config import MONTH_CHECKS

GROUP = "monitoring"
MONTHS = dg.DynamicPartitionsDefinition(name="months")
FILE_TAG = "churn/file"  # run tag naming the landed file (set by the landing sensor)
MONITORING_EXPERIMENT = "churn-monitoring"
SERVED = "churn_bento"  # materialized on every promotion and rollback: the served champion
# Update when the landed month does, never past a failed blocking check, never without a
# served champion (nor while a retraining builds one); the bento's and train_set's (only a
# fallback) updates re-run no month: re-checking after a promotion is the daily drift check's.
AFTER_PARENTS = (
    dg.AutomationCondition.eager().replace(
        "any_deps_updated",
        dg.AutomationCondition.any_deps_updated().ignore(
            dg.AssetSelection.assets(SERVED, "train_set")
        ),
    )
    & dg.AutomationCondition.all_deps_blocking_checks_passed()
)


def _champion(platform: ChurnPlatform):
    from churn_assets.lib.monitoring.champion import load_champion

    try:
        return load_champion(platform.registered_model, platform.contract())
    except LookupError as exc:
        raise dg.Failure(str(exc), allow_retries=False) from exc


def _reference(context: dg.AssetExecutionContext, champion, train_set):
    """The champion's reference rows and where they came from (a legacy champion without
    one falls back to `train_set`, with a warning)."""
    from churn_assets.lib.monitoring.reference import reference_or_fallback

    rows, source, warning = reference_or_fallback(champion.slot, train_set)
    if warning:
        context.log.warning(warning)
    return rows, source


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
    rows (quarantined rows, with their reasons, go to the storage URI's
    quarantine/<month>.parquet; files there older than the contract's
    `privacy.quarantine.retention_days` are deleted by this step).
    Materialized once per landed file by the `landing_sensor`."""
    from datetime import UTC, datetime

    from churn_assets.defs.metadata import markdown, preview
    from churn_assets.lib.hashing import frame_hash
    from churn_assets.lib.ingestion import quarantine as quarantine_files
    from churn_assets.lib.ingestion.readers import add_snapshot_from_name, read_table
    from churn_assets.lib.ingestion.stores import open_store
    from churn_assets.lib.ingestion.validation import validate_frame
    from churn_assets.lib.monitoring.landing import month_file

    contract, uri = platform.contract(), platform.parsed_uri()
    if uri.scheme in ("sim", "sql"):
        raise dg.Failure(
            "monthly batches land in a folder or S3 prefix: set CHURN_DATA_URI to one "
            "(the built-in simulator and a database source have no landing location)",
            allow_retries=False,
        )
    store = open_store(uri, s3.get_client)
    try:
        file = month_file(store, context.partition_key, context.run.tags.get(FILE_TAG))
    except LookupError as exc:
        raise dg.Failure(str(exc), allow_retries=False) from exc
    raw = add_snapshot_from_name(
        read_table(store.read_bytes(file), file.name), file.name, contract.event_time
    )
    result = validate_frame(raw, contract, source=file.name)
    # In the storage (bucket), not CHURN_HOME: the worker's disk may be a pod's, gone after.
    folder = settings.storage_location("quarantine")
    quarantine = folder / f"{context.partition_key}.parquet"
    quarantined = len(result.quarantined)
    if quarantined:
        quarantine = quarantine_files.write(folder, context.partition_key, result.quarantined)
    # This step is the only writer of the quarantine, so it also enforces its retention.
    retention = contract.privacy.quarantine_retention_days
    purged = quarantine_files.purge(folder, retention, datetime.now(UTC))
    if purged:
        context.log.info(f"Deleted {len(purged)} quarantine file(s) older than {retention} days")
    share = result.rejected_share
    context.log.info(f"{file.name}: {len(result.valid):,} valid rows, {quarantined:,} quarantined")
    yield dg.Output(
        result.valid,
        data_version=dg.DataVersion(frame_hash(result.valid)),
        metadata={
            "file": file.name,
            "file_version": file.version,
            "rows": len(raw),
            "valid_rows": len(result.valid),
            "quarantined_rows": quarantined,
            "rejected_share": round(share, 5),
            "quarantine": dg.MetadataValue.path(str(quarantine)) if quarantined else "",
            "reasons": markdown(result.reason_counts()) if quarantined else "none",
            "quarantine_retention_days": retention if retention is not None else "forever",
            "quarantine_files_deleted": len(purged),
            "preview": preview(result.valid, contract=contract),
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
    deps=[SERVED],
)
def batch_scores(
    context: dg.AssetExecutionContext,
    platform: ChurnPlatform,
    mlflow: MlflowTracking,  # points MLflow at the registry for this step
    monitoring: MonitoringSettings,
    landed_batch,
    train_set,  # only a fallback; see _reference
):
    """Every customer of the month scored by the current champion (the same compiled scorer
    the service uses): churn probability, label at the decision threshold, risk tier, model
    version and the top reasons (SHAP per contract field)."""
    from churn_assets.defs.metadata import preview
    from churn_assets.lib.monitoring.scoring import reason_explainer, score_batch, scores_summary

    contract, champion = platform.contract(), _champion(platform)
    explainer = None
    if monitoring.top_reasons > 0:
        reference, _ = _reference(context, champion, train_set)
        explainer = reason_explainer(champion, reference, contract)
    scores = score_batch(
        landed_batch, contract, champion, explainer=explainer, top_k=monitoring.top_reasons
    )
    context.log.info(
        f"Scored {len(scores):,} customers with {platform.registered_model} v{champion.version}"
    )
    return dg.Output(
        scores,
        metadata={
            **scores_summary(scores),
            "model_version": champion.version,
            "family": champion.slot.family,
            "threshold": champion.slot.threshold,
            "preview": preview(
                scores.sort_values("churn_probability", ascending=False), contract=contract
            ),
        },
    )


@dg.asset(
    partitions_def=MONTHS,
    group_name=GROUP,
    kinds={"evidently", "mlflow"},
    code_version="2",
    automation_condition=AFTER_PARENTS,
    deps=["batch_scores"],  # a month is drift-checked once it is scored
    check_specs=[
        dg.AssetCheckSpec(name, asset="drift_report", description=text)
        for name, (_, text) in MONTH_CHECKS.items()
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
    and in MLflow (the HTML too, also under CHURN_HOME/reports/drift); Prometheus gauges in
    $CHURN_PROMETHEUS_DIR (default CHURN_HOME/monitoring/prometheus); an alert on a breach."""
    from churn_assets.defs.metadata import markdown
    from churn_assets.lib.features.engineering import TARGET_COL
    from churn_assets.lib.monitoring.monthly import (
        breach_alert,
        check_verdicts,
        export_gauges,
        judge_month,
        log_month,
    )

    month, champion = context.partition_key, _champion(platform)
    reference, source = _reference(context, champion, train_set)
    html = platform.reports_dir() / "drift" / month / "drift_report.html"
    result = judge_month(
        champion,
        reference,
        landed_batch,
        platform.contract(),
        TARGET_COL,
        monitoring.drift_config(),
        html,
    )
    numbers = {**result.to_metadata(per_column=False), "model_version": champion.version}
    with mlflow.start_run(
        context,
        f"drift-{month}",
        tags={"batch": month, "model_version": champion.version},
        experiment=MONITORING_EXPERIMENT,
    ) as run:
        log_month(result, numbers, html)
    export_gauges(month, result, champion.version, platform.home_path)
    if (alert := breach_alert(month, result, champion.version)) is not None:
        context.log.warning(f"Drift breach in {month}: {result.breaches}")
        alerts.send(**alert)
    yield dg.MaterializeResult(
        metadata={
            **numbers,
            "reference": source,
            "breaches": dg.MetadataValue.json(result.breaches),
            "drifted_columns": ", ".join(result.drifted_columns) or "none",
            "features": markdown(result.features.round(4)),
            "report": dg.MetadataValue.path(str(html)),
            "mlflow_run": mlflow.run_url(run.info.run_id, MONITORING_EXPERIMENT),
        }
    )
    for verdict in check_verdicts(result):
        yield dg.AssetCheckResult(
            check_name=verdict.name,
            passed=verdict.passed,
            severity=dg.AssetCheckSeverity.WARN,
            metadata=verdict.metadata,
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
    mlflow: MlflowTracking,  # points MLflow at the registry for this step
    monitoring: MonitoringSettings,
    landed_batch,
):
    """The current champion re-evaluated on every landed month that carries labels: ROC-AUC
    per month next to the ROC-AUC it had on its own test rows. Requested by the retraining
    sensor when one month breaches (drift alone re-evaluates; only confirmed breaches
    retrain), and runnable by hand."""
    from churn_assets.defs.metadata import markdown
    from churn_assets.lib.monitoring.champion import held_out_roc_auc
    from churn_assets.lib.monitoring.health import health_summary, health_table

    champion = _champion(platform)
    test_auc = held_out_roc_auc(champion)
    months = landed_batch if isinstance(landed_batch, dict) else {"all": landed_batch}
    table = health_table(champion, months, platform.contract(), test_auc)
    context.log.info(f"Champion v{champion.version} per month:\n{table.to_string(index=False)}")
    return dg.MaterializeResult(
        metadata={
            "model_version": champion.version,
            **health_summary(table, test_auc, monitoring.performance_drop_limit),
            "months": markdown(table.round(4)),
        }
    )
