"""Sensors that alert on failures: every failed asset check, every failed run.

Both queue their alerts in their cursor and post them within a deadline per tick
(`alerting.py`), so a slow or failing webhook never times a tick out and never loses an
alert. Alerts carry counts, reasons, column names and ids, never rows: a check's metadata is
passed on only where it is a number, a flag, a link or one short line of text (a markdown
table or a JSON value may hold a preview of customer rows, see `safe_fields`).
"""

from __future__ import annotations

import json
from typing import Any

import dagster as dg

from churn_assets.defs.monitoring import check_history
from churn_assets.defs.monitoring.alerting import SensorAlerts
from churn_assets.defs.resources import Alerts
from churn_assets.lib.monitoring.check_alerts import CheckCursor, State
from churn_assets.lib.monitoring.config import sensor_interval_seconds

RUNNING = dg.DefaultSensorStatus.RUNNING
INTERVAL = sensor_interval_seconds()
MAX_FIELDS = 6
MAX_TEXT = 200  # a text metadata value longer than this, or on several lines, is not sent
PAGE = 100  # failed runs read per tick (the rest on the next)


def safe_fields(metadata: dict[str, dg.MetadataValue], limit: int = MAX_FIELDS) -> dict:
    """The metadata an alert may carry: numbers, flags, links, one short line of text.

    Markdown, JSON and tables are left out whatever their name: that is where previews and
    examples of rows live (the quarantine's examples, failure cases).
    """
    out: dict[str, Any] = {}
    for key, value in metadata.items():
        if len(out) >= limit:
            break
        if isinstance(
            value,
            dg.IntMetadataValue
            | dg.FloatMetadataValue
            | dg.BoolMetadataValue
            | dg.UrlMetadataValue
            | dg.PathMetadataValue,
        ):
            out[key] = value.value
        elif isinstance(value, dg.TextMetadataValue):
            text = value.value or ""
            if len(text) <= MAX_TEXT and "\n" not in text and "|" not in text:
                out[key] = text
    return out


@dg.sensor(minimum_interval_seconds=INTERVAL, default_status=RUNNING)
def check_failure_alerts(context: dg.SensorEvaluationContext, alerts: Alerts) -> dg.SkipReason:
    """An alert for every failed asset check (critical when the check is blocking), except
    checks whose spec metadata names the alert their own step sends (`churn/alerted_as`: the
    gate's, alerted once per decision as `gate_rejected`).

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

    notes = SensorAlerts(alerts, context.cursor)
    cursor = CheckCursor.from_json(context.cursor)
    if cursor is None:
        latest = {
            key.to_user_string(): check_history.latest(context.instance, key) for key in specs
        }
        cursor = CheckCursor.first(latest, state)
        context.update_cursor(notes.finish(context, cursor.to_json()))
        return dg.SkipReason(f"Watching {len(specs)} checks from execution id {cursor.start}")

    failed = 0
    for key, spec in specs.items():
        name = key.to_user_string()
        executions = check_history.executions_after(context.instance, key, cursor.fetch_after(name))
        for record in cursor.advance(name, executions, state):
            failed += 1
            # The gate's checks: their step already sent one `gate_rejected` alert for all.
            if "churn/alerted_as" not in (spec.metadata or {}):
                _alert_check_failed(notes, key, spec, record)
    context.update_cursor(notes.finish(context, cursor.to_json()))
    return dg.SkipReason(f"{failed} new failed check(s)")


def _alert_check_failed(
    notes: SensorAlerts, key: dg.AssetCheckKey, spec: dg.AssetCheckSpec, record
) -> None:
    evaluation = record.event.dagster_event.event_specific_data if record.event else None
    asset = key.asset_key.to_user_string()
    fields = {"asset": asset, "partition": record.partition or "", "run_id": record.run_id}
    if evaluation is not None:
        fields.update(safe_fields(dict(evaluation.metadata)))
    text = (evaluation.description if evaluation else None) or spec.description or ""
    notes.send(
        "check_failed",
        "critical" if spec.blocking else "warning",
        f"Check {key.name} failed on {asset}",
        text.splitlines()[0][:500] if text else "",  # the summary line, never a table
        fields,
    )


@dg.sensor(minimum_interval_seconds=INTERVAL, default_status=RUNNING)
def run_failure_alerts(context: dg.SensorEvaluationContext, alerts: Alerts) -> dg.SkipReason:
    """A critical alert for every failed run.

    Reads the instance's run failure events after the last one seen (public
    `fetch_run_status_changes`), so the cursor is ours and carries the alert outbox (a
    `run_failure_sensor` keeps its own cursor and would post inline). The first tick only
    records where the history stands: nothing older is alerted.
    """
    state = json.loads(context.cursor) if context.cursor else {}
    notes = SensorAlerts(alerts, context.cursor)
    failure = dg.DagsterEventType.RUN_FAILURE
    if "after" not in state:
        newest = context.instance.fetch_run_status_changes(failure, limit=1).records
        state["after"] = newest[0].storage_id if newest else 0
        context.update_cursor(notes.finish(context, json.dumps(state)))
        return dg.SkipReason(f"Watching run failures after event {state['after']}")
    records = context.instance.fetch_run_status_changes(
        dg.RunStatusChangeRecordsFilter(failure, after_storage_id=int(state["after"])),
        limit=PAGE,
        ascending=True,
    ).records
    for record in records:
        entry = record.event_log_entry
        run = context.instance.get_run_by_id(entry.run_id)
        tags = run.tags if run is not None else {}
        message = entry.dagster_event.message if entry.dagster_event else entry.message
        notes.send(
            "run_failure",
            "critical",
            f"Run of {run.job_name if run else 'a job'} failed",
            (message or "")[:1500],
            {"run_id": entry.run_id, **{k: v for k, v in tags.items() if k.startswith("churn/")}},
        )
        state["after"] = record.storage_id
    context.update_cursor(notes.finish(context, json.dumps(state)))
    return dg.SkipReason(f"{len(records)} failed run(s)")
