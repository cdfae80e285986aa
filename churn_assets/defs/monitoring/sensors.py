"""Sensors that close the loop: new files are ingested exactly once, monthly assets update
themselves, confirmed drift retrains, and failures raise alerts.

Default status is RUNNING for all of them: they act only when something happens (a file
lands, a report breaches, a check or run fails), so a fresh `dg dev` on the simulator does
nothing until data lands. They need the Dagster daemon (`dg dev` starts one). All of them,
the automation sensor included, tick every `CHURN_SENSOR_INTERVAL_SECONDS` (default 30;
`make loop` uses 5), read when the definitions load.
"""

import json
from datetime import UTC, datetime

import dagster as dg
from dagster_aws.s3 import S3Resource

from churn_assets.defs.jobs import champion_reevaluation, churn_pipeline, ingest_batch
from churn_assets.defs.monitoring import check_history
from churn_assets.defs.monitoring.assets import FILE_TAG, GROUP, MONTHS
from churn_assets.defs.resources import Alerts, ChurnPlatform, MonitoringSettings
from churn_assets.lib.monitoring.check_alerts import CheckCursor, State
from churn_assets.lib.monitoring.config import sensor_interval_seconds

RUNNING = dg.DefaultSensorStatus.RUNNING
TRIGGER_TAG = "churn/trigger"
INTERVAL = sensor_interval_seconds()


@dg.sensor(
    job=ingest_batch,
    minimum_interval_seconds=INTERVAL,
    default_status=RUNNING,
    description="Watches the landing location (CHURN_DATA_URI folder or S3 prefix) and "
    "ingests each new monthly file once; half-written files wait, bad files are reported "
    "once and never block later ones.",
)
def landing_sensor(
    context: dg.SensorEvaluationContext,
    platform: ChurnPlatform,
    s3: S3Resource,
    monitoring: MonitoringSettings,
    alerts: Alerts,
) -> dg.SensorResult | dg.SkipReason:
    from churn_assets.lib.ingestion.stores import open_store
    from churn_assets.lib.monitoring.landing import scan

    uri = platform.parsed_uri()
    if uri.scheme == "sim":
        return dg.SkipReason(
            "CHURN_DATA_URI is the built-in simulator, where nothing lands; point it at a "
            "folder or an s3:// prefix to monitor monthly files"
        )
    result = scan(
        open_store(uri, s3.get_client),
        context.cursor,
        datetime.now(UTC),
        settle_seconds=monitoring.settle_seconds,
    )
    for rejected in result.rejected:
        context.log.warning(rejected.reason)
        alerts.send(
            "ingest_rejected",
            "warning",
            "Landed file rejected",
            rejected.reason,
            {"file": rejected.name, "version": rejected.version},
        )
    known = set(context.instance.get_dynamic_partitions(MONTHS.name))
    new_months = sorted({r.month for r in result.ready} - known)
    requests = [
        dg.RunRequest(
            # One run per file version: a re-upload with new content is ingested again.
            run_key=f"{ready.name}@{ready.version}",
            partition_key=ready.month,
            tags={FILE_TAG: ready.name, "churn/replaced": str(ready.replaced).lower()},
        )
        for ready in result.ready
    ]
    context.log.info(result.summary())
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[MONTHS.build_add_request(new_months)] if new_months else [],
        cursor=result.cursor.to_json(),
        skip_reason=None if requests else result.summary(),
    )


def drift_outcomes(instance: dg.DagsterInstance, limit: int = 500) -> list:
    """The latest drift verdict per month, from the event log, oldest evaluation first."""
    from churn_assets.lib.monitoring.trigger import BatchOutcome

    records = instance.fetch_materializations(
        dg.AssetKey("drift_report"), limit=limit, ascending=False
    ).records
    latest: dict[str, object] = {}
    for record in records:
        month = record.partition_key
        if month is None or month in latest:
            continue
        metadata = {k: v.value for k, v in record.asset_materialization.metadata.items()}
        outcome = BatchOutcome.from_drift_metadata(
            month, metadata, datetime.fromtimestamp(record.timestamp, UTC)
        )
        if outcome is not None:
            latest[month] = outcome
    return sorted(latest.values(), key=lambda o: o.evaluated_at)


def served_champion(instance: dg.DagsterInstance) -> str | None:
    """The champion version of the newest bento (the bento follows every promotion and
    rollback), or None before the first one."""
    event = instance.get_latest_materialization_event(dg.AssetKey("churn_bento"))
    if event is None or event.asset_materialization is None:
        return None
    value = event.asset_materialization.metadata.get("champion_version")
    return str(value.value) if value is not None else None


@dg.sensor(
    jobs=[churn_pipeline, champion_reevaluation],
    minimum_interval_seconds=INTERVAL,
    default_status=RUNNING,
    description="Reads every month's drift verdict: one breach re-evaluates the champion; "
    "k breaches in the last n months (enough rows, outside the cooldown) retrain it. The "
    "gate then decides and the bento follows.",
)
def retrain_sensor(
    context: dg.SensorEvaluationContext, monitoring: MonitoringSettings, alerts: Alerts
) -> dg.SensorResult | dg.SkipReason:
    from churn_assets.lib.monitoring.trigger import decide

    state = json.loads(context.cursor) if context.cursor else {}
    last = state.get("last_retrain_at")
    now = datetime.now(UTC)
    decision = decide(
        drift_outcomes(context.instance),
        datetime.fromisoformat(last) if last else None,
        now,
        monitoring.trigger_config(),
        current_model_version=served_champion(context.instance),
    )
    context.log.info(f"{decision.action}: {decision.reason}")
    tags = {TRIGGER_TAG: decision.action, "churn/reason": decision.reason[:250]}
    if decision.action == "retrain":
        state["last_retrain_at"] = now.isoformat()
        alerts.send(
            "retrain_triggered",
            "warning",
            f"Retraining champion v{decision.model_version}",
            decision.reason,
            {"breaching": ", ".join(decision.breaching_batches)},
        )
        request = dg.RunRequest(
            run_key=f"retrain-v{decision.model_version}-{decision.latest_batch}",
            job_name=churn_pipeline.name,
            tags=tags,
        )
        return dg.SensorResult(run_requests=[request], cursor=json.dumps(state))
    if decision.action == "reevaluate":
        request = dg.RunRequest(
            run_key=f"reevaluate-v{decision.model_version}-{decision.latest_batch}",
            job_name=champion_reevaluation.name,
            tags=tags,
        )
        return dg.SensorResult(run_requests=[request], cursor=json.dumps(state))
    return dg.SkipReason(decision.reason)


@dg.sensor(minimum_interval_seconds=INTERVAL, default_status=RUNNING)
def check_failure_alerts(context: dg.SensorEvaluationContext, alerts: Alerts) -> dg.SkipReason:
    """An alert for every failed asset check (critical when the check is blocking).

    Reads each check's execution history (`check_history`: not public API, see there);
    `lib/monitoring/check_alerts.py` decides which executions are new failures and what the
    cursor keeps (executions still in progress are looked at again). The first tick only
    records where the history stands: nothing older is alerted.
    """
    planned, failed_status = check_history.statuses()
    specs = {
        spec.key: spec
        for assets_def in context.repository_def.asset_graph.assets_defs
        for spec in assets_def.check_specs
    }

    def state(record) -> State:
        if record.status == failed_status:
            return "failed"
        if record.status == planned:
            run = context.instance.get_run_by_id(record.run_id)
            if run is not None and not run.is_finished:
                return "open"
        return "done"

    cursor = CheckCursor.from_json(context.cursor)
    if cursor is None:
        latest = {
            key.to_user_string(): check_history.latest(context.instance, key) for key in specs
        }
        cursor = CheckCursor.first(latest, state)
        context.update_cursor(cursor.to_json())
        return dg.SkipReason(f"Watching {len(specs)} checks from execution id {cursor.start}")

    failed = 0
    for key, spec in specs.items():
        name = key.to_user_string()
        executions = check_history.executions_after(context.instance, key, cursor.fetch_after(name))
        for record in cursor.advance(name, executions, state):
            failed += 1
            _alert_check_failed(alerts, key, spec, record)
    context.update_cursor(cursor.to_json())
    return dg.SkipReason(f"{failed} new failed check(s)")


def _alert_check_failed(
    alerts: Alerts, key: dg.AssetCheckKey, spec: dg.AssetCheckSpec, record
) -> None:
    evaluation = record.event.dagster_event.event_specific_data if record.event else None
    asset = key.asset_key.to_user_string()
    fields = {"asset": asset, "partition": record.partition or "", "run_id": record.run_id}
    if evaluation is not None:
        fields.update({k: v.value for k, v in list(evaluation.metadata.items())[:6]})
    alerts.send(
        "check_failed",
        "critical" if spec.blocking else "warning",
        f"Check {key.name} failed on {asset}",
        (evaluation.description if evaluation else None) or spec.description or "",
        fields,
    )


@dg.run_failure_sensor(default_status=RUNNING, minimum_interval_seconds=INTERVAL)
def run_failure_alerts(context: dg.RunFailureSensorContext, alerts: Alerts) -> None:
    """A critical alert for every failed run."""
    run = context.dagster_run
    alerts.send(
        "run_failure",
        "critical",
        f"Run of {run.job_name} failed",
        (context.failure_event.message or "")[:1500],
        {"run_id": run.run_id, **{k: v for k, v in run.tags.items() if k.startswith("churn/")}},
    )


monitoring_automation = dg.AutomationConditionSensorDefinition(
    "monitoring_automation",
    target=dg.AssetSelection.groups(GROUP),
    default_status=RUNNING,
    minimum_interval_seconds=INTERVAL,
    description="Scores and drift-checks each newly landed month (declarative automation).",
)
