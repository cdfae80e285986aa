"""Schedules: a daily drift check of the newest month (RUNNING by default) and periodic
retraining (STOPPED by default: drift-confirmed retraining is the primary trigger; turn it on
in the UI, or set CHURN_RETRAIN_SCHEDULE=running, for a fixed cadence)."""

import os

import dagster as dg

from churn_assets.defs.jobs import churn_pipeline, drift_check
from churn_assets.defs.monitoring.assets import MONTHS
from churn_assets.defs.monitoring.sensors import TRIGGER_TAG

RETRAIN_CRON = os.environ.get("CHURN_RETRAIN_CRON", "0 3 * * 1")  # Mondays 03:00
DRIFT_CHECK_CRON = os.environ.get("CHURN_DRIFT_CHECK_CRON", "0 6 * * *")  # daily 06:00
_RETRAIN_STATUS = os.environ.get("CHURN_RETRAIN_SCHEDULE", "stopped").strip().lower()

weekly_retraining = dg.ScheduleDefinition(
    name="weekly_retraining",
    job=churn_pipeline,
    cron_schedule=RETRAIN_CRON,
    execution_timezone="UTC",
    tags={TRIGGER_TAG: "schedule"},
    default_status=dg.DefaultScheduleStatus.RUNNING
    if _RETRAIN_STATUS == "running"
    else dg.DefaultScheduleStatus.STOPPED,
    description=f"Retrain on all landed data ({RETRAIN_CRON} UTC, CHURN_RETRAIN_CRON); the "
    "gate decides as always.",
)


@dg.schedule(
    job=drift_check,
    cron_schedule=DRIFT_CHECK_CRON,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description=f"Re-check the newest month against the current champion ({DRIFT_CHECK_CRON} "
    "UTC, CHURN_DRIFT_CHECK_CRON): after a promotion or rollback the verdict can change.",
)
def daily_drift_check(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    months = sorted(context.instance.get_dynamic_partitions(MONTHS.name))
    if not months:
        return dg.SkipReason("no month has landed yet")
    day = context.scheduled_execution_time.strftime("%Y-%m-%d")
    return dg.RunRequest(
        run_key=f"drift-check-{months[-1]}-{day}",
        partition_key=months[-1],
        tags={TRIGGER_TAG: "schedule"},
    )
