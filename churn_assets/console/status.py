"""`make status`: the platform's state read from the Dagster instance and the MLflow registry."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from churn_assets.console.demo import say, shown
from churn_assets.console.events import plain
from churn_assets.console.registry import DEFAULT_MODEL, mlflow_ui, tracking_uri, versions
from churn_assets.lib import settings
from churn_assets.lib.console.facts import Check, finding
from churn_assets.lib.console.status import Drift, JobRun, render_status

TRIGGER_TAGS = ("dagster/sensor_name", "dagster/schedule_name", "churn/trigger")


def _when(timestamp: float | None) -> str:
    if not timestamp:
        return ""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


def last_runs(instance: Any, jobs: list[str]) -> list[JobRun]:
    """The newest run of each job."""
    import dagster as dg

    out = []
    for job in jobs:
        found = instance.get_run_records(dg.RunsFilter(job_name=job), limit=1)
        if not found:
            out.append(JobRun(job))
            continue
        record, run = found[0], found[0].dagster_run
        seconds = (
            record.end_time - record.start_time if record.end_time and record.start_time else None
        )
        trigger = next((run.tags[t] for t in TRIGGER_TAGS if run.tags.get(t)), "")
        out.append(
            JobRun(job, run.status.value, _when(record.start_time), seconds, run.run_id, trigger)
        )
    return out


def newest_drift(instance: Any) -> Drift | None:
    """The drift report of the newest month (the latest report of that month)."""
    import dagster as dg

    records = instance.fetch_materializations(dg.AssetKey("drift_report"), limit=500).records
    if not records:
        return None
    newest = max(records, key=lambda r: (r.partition_key or "", r.storage_id))
    m = plain(newest.asset_materialization.metadata)
    return Drift(
        month=newest.partition_key or "",
        breached=bool(m.get("breached")),
        model_version=str(m.get("model_version", "?")),
        drifted_columns=""
        if m.get("drifted_columns") in (None, "none")
        else str(m["drifted_columns"]),
        report=shown(m["report"]) if m.get("report") else "",
    )


def open_alerts(
    instance: Any,
    check_keys: list[Any],
    runs: list[JobRun],
    drift: Drift | None,
    champion: str | None = None,
) -> list[str]:
    """What still needs a person: a breach in the newest month, jobs whose newest run
    failed, checks whose latest evaluation failed."""
    alerts = []
    if drift is not None and drift.breached:
        alert = f"drift breached in {drift.month} (judged against v{drift.model_version})"
        if champion and champion != drift.model_version:
            alert += f"; v{champion} is champion now: the drift_check job re-judges the month"
        alerts.append(alert)
    alerts += [
        f"the newest {r.job} run failed ({r.started}, run {r.run_id[:8]})"
        for r in runs
        if r.status == "FAILURE"
    ]
    for key in check_keys:
        record = instance.get_latest_asset_check_evaluation_record(key)
        if record is None or record.status.value != "FAILED":
            continue
        evaluation = record.event.dagster_event.event_specific_data if record.event else None
        severity = getattr(getattr(evaluation, "severity", None), "value", "ERROR")
        why = ""
        if evaluation is not None:
            why = finding(
                Check(key.asset_key.to_user_string(), key.name, False, severity,
                      evaluation.description or "", plain(evaluation.metadata))
            )  # fmt: skip
        partition = f" [{record.partition}]" if getattr(record, "partition", None) else ""
        alerts.append(
            f"check {key.asset_key.to_user_string()}:{key.name}{partition} failing ({severity}, "
            f"{_when(record.create_timestamp)})" + (f": {why}" if why else "")
        )
    return alerts


def print_status() -> int:
    """Print `make status`; 0 (the state is reported, whatever it is)."""
    import dagster as dg

    from churn_assets.definitions import defs

    definitions = defs()
    jobs = sorted(j.name for j in definitions.resolve_all_job_defs() if not j.name.startswith("__"))
    check_keys = sorted(definitions.resolve_asset_graph().asset_check_keys, key=str)
    home = settings.churn_home()
    uri = tracking_uri(home)
    with dg.DagsterInstance.get() as instance:
        decision = instance.get_latest_materialization_event(dg.AssetKey("promotion_decision"))
        model = DEFAULT_MODEL
        if decision is not None:
            model = plain(decision.asset_materialization.metadata).get("registered_model", model)
        runs = last_runs(instance, jobs)
        drift = newest_drift(instance)
        held = versions(uri, model)
        champion = next((v.version for v in held if v.alias == "champion"), None)
        alerts = open_alerts(instance, check_keys, runs, drift, champion)
    where = {
        "CHURN_HOME": shown(home),
        "Dagster instance": shown(os.environ.get("DAGSTER_HOME", "")),
        "MLflow registry": f"{uri} (model {model})",
        "MLflow UI": mlflow_ui(uri),
    }
    for line in render_status(where, held, runs, drift, alerts):
        say(line)
    return 0
