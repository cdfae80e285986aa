"""The registry and the served bento agree, or someone hears of it and the bento is rebuilt."""

import hashlib
import json

import dagster as dg

from churn_assets.defs.jobs import TRAINING_GRAPH, WRITES_TAG, deploy_champion
from churn_assets.defs.monitoring.alerting import SensorAlerts
from churn_assets.defs.monitoring.sensors import served_champion
from churn_assets.defs.resources import Alerts, ChurnPlatform, MlflowTracking
from churn_assets.lib import settings
from churn_assets.lib.monitoring.config import sensor_interval_seconds

IN_PROGRESS = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


@dg.sensor(
    job=deploy_champion,
    minimum_interval_seconds=sensor_interval_seconds(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Compares the registry's @champion with the published bento, the builder's "
    "churn_service:latest and churn_bento's last materialization while no writing run is in "
    "progress; on a mismatch (a pending move whose build failed, a step killed mid-way) it "
    "alerts, says how to mend it, and launches deploy_champion once per distinct mismatch.",
)
def serving_consistency(
    context: dg.SensorEvaluationContext,
    platform: ChurnPlatform,
    mlflow: MlflowTracking,
    alerts: Alerts,
) -> dg.SensorResult | dg.SkipReason:
    from churn_assets.lib.registry import consistency

    busy = context.instance.get_run_records(
        dg.RunsFilter(tags=TRAINING_GRAPH, statuses=IN_PROGRESS), limit=1
    )
    if busy:
        # Mid-run a pending move is expected (promotion_decision ran, churn_bento not yet).
        return dg.SkipReason(f"a {WRITES_TAG} run is in progress ({busy[0].dagster_run.run_id})")
    mlflow.uri  # noqa: B018 (points MLflow at the platform's store)
    state = consistency.check(
        platform.registered_model,
        settings.storage_location("bentos"),
        settings.bentoml_home(platform.home_path),
        served_champion(context.instance),
    )
    # The cursor: the mismatch last alerted, plus the alerts waiting for the webhook (a tick
    # never posts inline: defs/monitoring/alerting.py).
    notes = SensorAlerts(alerts, context.cursor)
    saved = json.loads(context.cursor) if context.cursor else {}
    if state.consistent:
        cursor = notes.finish(context, json.dumps({}))
        return dg.SensorResult(skip_reason=state.summary(), cursor=cursor)
    if saved.get("alerted") == state.key:
        cursor = notes.finish(context, json.dumps({"alerted": state.key}))
        return dg.SensorResult(
            skip_reason=f"already alerted and relaunched: {state.summary()}", cursor=cursor
        )
    notes.send(
        "serving_mismatch",
        "critical",
        "The registry's champion and the served bento disagree",
        state.summary(),
        {"registry": state.registry or "none", "published": state.published_tag or "none"},
    )
    context.log.warning(state.summary())
    key = hashlib.sha256(state.key.encode()).hexdigest()[:16]
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=f"reconcile-{key}", tags=TRAINING_GRAPH)],
        cursor=notes.finish(context, json.dumps({"alerted": state.key})),
    )
