"""Alerts from sensors: logged at once, posted to the webhook from an outbox in the sensor's
cursor within a deadline per tick (`lib/notify/outbox.py` says why: a tick has 60 s, and a
slow webhook would spend them), and the runs sensors requested, looked up by run key."""

from __future__ import annotations

from typing import Any

import dagster as dg

from churn_assets.defs.resources import Alerts
from churn_assets.lib import notify
from churn_assets.lib.monitoring.requests import RunState
from churn_assets.lib.notify.outbox import Outbox, QueuedNotifier

# The daemon tags every run it launches for a sensor with these (so does the tests' driver).
SENSOR_TAG, RUN_KEY_TAG = "dagster/sensor_name", "dagster/run_key"


class SensorAlerts:
    """One tick's alerts: ``send`` logs and queues, ``finish`` posts within the deadline and
    returns the cursor with what is left queued."""

    def __init__(self, alerts: Alerts, cursor: str | None):
        self.notifier = QueuedNotifier(
            Outbox.from_cursor(cursor), alerts.webhook_url, alerts.min_severity
        )

    def send(
        self,
        kind: str,
        severity: str,
        title: str,
        text: str = "",
        fields: dict[str, Any] | None = None,
        url: str | None = None,
    ) -> None:
        """Queue one alert (it is logged at once)."""
        self.notifier.send(notify.Alert(kind, severity, title, text, fields or {}, url))

    def finish(self, context: dg.SensorEvaluationContext, cursor: str | None) -> str:
        """Post what the deadline allows; the sensor's ``cursor`` with the rest queued."""
        delivery = self.notifier.flush()
        if delivery.failed or delivery.left:
            context.log.warning(
                f"alerts: {delivery.sent} posted, {delivery.left} wait for the next tick "
                f"(webhook slow or down: {delivery.failed} attempt(s) failed)"
            )
        return self.notifier.outbox.into_cursor(cursor)


def run_state(
    instance: dg.DagsterInstance, sensor: str, run_key: str, decided_by: str
) -> tuple[RunState, float | None]:
    """The state of the run a sensor requested under ``run_key``, and when it ended.

    A run that failed after materializing ``decided_by`` counts as succeeded: its failure is
    a verdict (a blocking check on a landed month, the gate on a retraining), already
    alerted by `check_failure_alerts` / `run_failure_alerts`, and running it again would
    decide the same.
    """
    runs = instance.get_runs(
        filters=dg.RunsFilter(tags={SENSOR_TAG: sensor, RUN_KEY_TAG: run_key}), limit=1
    )
    if not runs:
        return "missing", None
    run = runs[0]
    if not run.is_finished:
        return "in_progress", None
    record = instance.get_run_record_by_id(run.run_id)
    ended = record.end_time if record is not None else None
    if run.status == dg.DagsterRunStatus.SUCCESS:
        return "succeeded", ended
    materialized = instance.get_records_for_run(
        run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
    ).records
    key = dg.AssetKey(decided_by)
    if any(r.event_log_entry.dagster_event.asset_key == key for r in materialized):
        return "succeeded", ended
    return "failed", ended
