"""Sensors that close the loop: new files are ingested exactly once, monthly assets update
themselves, confirmed drift retrains (failures raise alerts: `alert_sensors.py`).

Default status is RUNNING for all of them: they act only when something happens (a file
lands, a report breaches, a check or run fails), so a fresh `dg dev` on the simulator does
nothing until data lands. They need the Dagster daemon (`dg dev` starts one). All of them,
the automation sensor included, tick every `CHURN_SENSOR_INTERVAL_SECONDS` (default 30;
`make loop` uses 5), read when the definitions load.

A tick does no slow work inline (Dagster gives it 60 s): alerts are queued in the cursor and
posted within a deadline (`alerting.py`), files are judged by their listing (size, ETag or
modification time) and read only to check a settled candidate's content, and what a tick
requested is recorded as done only when its run succeeds, looked up on later ticks
(`lib/monitoring/requests.py`).
"""

import json
from datetime import UTC, datetime

import dagster as dg
from dagster_aws.s3 import S3Resource

from churn_assets.defs.jobs import champion_reevaluation, churn_pipeline, ingest_batch
from churn_assets.defs.monitoring.alerting import SensorAlerts, run_state
from churn_assets.defs.monitoring.assets import FILE_TAG, GROUP, MONTHS
from churn_assets.defs.resources import Alerts, ChurnPlatform, MonitoringSettings
from churn_assets.lib.monitoring.config import sensor_interval_seconds

RUNNING = dg.DefaultSensorStatus.RUNNING
TRIGGER_TAG = "churn/trigger"
LANDING, RETRAIN = "landing_sensor", "retrain_sensor"
# A retraining counts as done once its gate decided (a rejection fails the run, but the
# challenger was trained and judged: the cooldown applies).
RETRAIN_DECIDED_BY = "promotion_decision"
MAX_UNKNOWN_ALERTED = 200  # drift records already alerted as unreadable, kept in the cursor
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
    from churn_assets.lib.monitoring.landing import follow_up, scan
    from churn_assets.lib.monitoring.landing_cursor import LandingCursor

    uri = platform.parsed_uri()
    if uri.scheme in ("sim", "sql"):
        where = "the built-in simulator" if uri.scheme == "sim" else "a database"
        return dg.SkipReason(
            f"CHURN_DATA_URI is {where}, where no files land; point it at a folder or an "
            "s3:// prefix to monitor monthly files (a database source is re-read by "
            "churn_pipeline when customer_source sees a new version)"
        )
    now = datetime.now(UTC)
    notes = SensorAlerts(alerts, context.cursor)
    cursor = LandingCursor.from_json(context.cursor)
    # First what earlier ticks requested: accepted once the run succeeded, else retried.
    followed = follow_up(
        cursor,
        lambda key, month: run_state(context.instance, LANDING, key, "landed_batch")[0],
        now,
    )
    for gave_up in followed.gave_up:
        context.log.error(gave_up.reason)
        notes.send(
            "ingest_failed",
            "critical",
            "Landed file not ingested",
            gave_up.reason,
            {"file": gave_up.name, "version": gave_up.version},
        )
    result = scan(
        open_store(uri, s3.get_client), cursor, now, settle_seconds=monitoring.settle_seconds
    )
    for rejected in result.rejected:
        context.log.warning(rejected.reason)
        notes.send(
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
            # One run per file version (and attempt): a re-upload with new content is
            # ingested again, a failed ingest is retried under a new key.
            run_key=ready.run_key,
            partition_key=ready.month,
            tags={FILE_TAG: ready.name, "churn/replaced": str(ready.replaced).lower()},
        )
        for ready in [*followed.retries, *result.ready]
    ]
    summary = result.summary() + (f", {len(followed.retries)} retried" if followed.retries else "")
    context.log.info(summary)
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[MONTHS.build_add_request(new_months)] if new_months else [],
        cursor=notes.finish(context, result.cursor.to_json()),
        skip_reason=None if requests else summary,
    )


def drift_outcomes(
    instance: dg.DagsterInstance, limit: int = 500
) -> tuple[list, dict[str, tuple[int, str]]]:
    """The latest drift verdict per month, from the event log, oldest evaluation first, and
    the months whose latest report is not a readable verdict (``{month: (storage id, why)}``:
    unknown, never dropped silently)."""
    from churn_assets.lib.monitoring.trigger import BatchOutcome, VerdictError

    records = instance.fetch_materializations(
        dg.AssetKey("drift_report"), limit=limit, ascending=False
    ).records
    latest: dict[str, object] = {}
    unknown: dict[str, tuple[int, str]] = {}
    for record in records:
        month = record.partition_key
        if month is None or month in latest or month in unknown:
            continue
        metadata = {k: v.value for k, v in record.asset_materialization.metadata.items()}
        try:
            outcome = BatchOutcome.from_drift_metadata(
                month, metadata, datetime.fromtimestamp(record.timestamp, UTC)
            )
        except VerdictError as exc:
            unknown[month] = (record.storage_id, str(exc))
            continue
        if outcome is not None:
            latest[month] = outcome
    return sorted(latest.values(), key=lambda o: o.evaluated_at), unknown


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
    from churn_assets.lib.monitoring.requests import run_key, settle
    from churn_assets.lib.monitoring.trigger import decide

    state = json.loads(context.cursor) if context.cursor else {}
    notes = SensorAlerts(alerts, context.cursor)
    now = datetime.now(UTC)
    outcomes, unknown = drift_outcomes(context.instance)
    _report_unknown(context, notes, state, unknown)
    running, attempt = _follow_up_retraining(context, notes, state, now, settle, run_key)
    last = state.get("last_retrain_at")
    decision = decide(
        outcomes,
        datetime.fromisoformat(last) if last else None,
        now,
        monitoring.trigger_config(),
        current_model_version=served_champion(context.instance),
        unknown_batches=sorted(unknown),
    )
    context.log.info(f"{decision.action}: {decision.reason}")
    tags = {TRIGGER_TAG: decision.action, "churn/reason": decision.reason[:250]}
    requests: list[dg.RunRequest] = []
    skip = decision.reason
    if decision.action == "retrain":
        subject = f"retrain-v{decision.model_version}-{decision.latest_batch}"
        if running:
            skip = f"{decision.reason}; retraining run {running!r} still under way"
        elif state.get("gave_up") == subject:
            skip = (
                f"{decision.reason}; but retraining for this evidence failed every attempt: "
                "a new month, a new champion or a manual run starts over"
            )
        else:
            number = attempt[1] if attempt and attempt[0] == subject else 1
            key = run_key(subject, number)
            state["open"] = {"subject": subject, "attempt": number, "at": now.timestamp()}
            notes.send(
                "retrain_triggered",
                "warning",
                f"Retraining champion v{decision.model_version}",
                decision.reason + (f" (attempt {number})" if number > 1 else ""),
                {"breaching": ", ".join(decision.breaching_batches)},
            )
            requests.append(dg.RunRequest(run_key=key, job_name=churn_pipeline.name, tags=tags))
    elif decision.action == "reevaluate":
        requests.append(
            dg.RunRequest(
                run_key=f"reevaluate-v{decision.model_version}-{decision.latest_batch}",
                job_name=champion_reevaluation.name,
                tags=tags,
            )
        )
    return dg.SensorResult(
        run_requests=requests,
        cursor=notes.finish(context, json.dumps(state)),
        skip_reason=None if requests else skip,
    )


def _report_unknown(context, notes: SensorAlerts, state: dict, unknown: dict) -> None:
    """Log every unreadable verdict each tick; alert each drift record once."""
    alerted = list(state.get("unknown_alerted", []))
    for month, (storage_id, why) in sorted(unknown.items()):
        context.log.warning(f"drift verdict of {month} unknown, not counted: {why}")
        if storage_id in alerted:
            continue
        notes.send(
            "verdict_unknown",
            "warning",
            f"Drift verdict of {month} unreadable",
            f"{why}. The retraining trigger leaves {month} out until its drift report is "
            "re-run (drift_check job).",
            {"month": month},
        )
        alerted.append(storage_id)
    if alerted:
        state["unknown_alerted"] = alerted[-MAX_UNKNOWN_ALERTED:]


def _follow_up_retraining(context, notes: SensorAlerts, state: dict, now, settle, run_key):
    """The retraining run requested earlier: its success starts the cooldown (at the run's
    end); a failure allows another attempt at once, up to the bound, then one alert.

    Returns:
        (run key still under way or None, (subject, next attempt) to retry or None).
    """
    open_ = state.get("open")
    if not open_:
        return None, None
    subject, number = open_["subject"], int(open_["attempt"])
    key = run_key(subject, number)
    status, ended = run_state(context.instance, RETRAIN, key, RETRAIN_DECIDED_BY)
    verdict = settle(status, number, float(open_["at"]), now.timestamp())
    if verdict == "wait":
        return key, None
    del state["open"]
    if verdict == "done":
        finished = datetime.fromtimestamp(ended, UTC) if ended else now
        state["last_retrain_at"] = finished.isoformat()
        state.pop("gave_up", None)
        return None, None
    if verdict == "retry":
        context.log.warning(f"retraining run {key!r} {status}: trying again")
        return None, (subject, number + 1)
    state["gave_up"] = subject
    reason = f"retraining run {key!r} {status}: {number} attempt(s) failed, not retried again"
    context.log.error(reason)
    notes.send("retrain_failed", "critical", "Retraining failed", reason, {"run_key": key})
    return None, None


monitoring_automation = dg.AutomationConditionSensorDefinition(
    "monitoring_automation",
    target=dg.AssetSelection.groups(GROUP),
    default_status=RUNNING,
    minimum_interval_seconds=INTERVAL,
    description="Scores and drift-checks each newly landed month (declarative automation).",
)
