"""Sensors, automation and schedules of the monitoring loop, each evaluated the way the daemon
does (`build_sensor_context`, `evaluate_automation_conditions`, `build_schedule_context`) on a
real instance: new files exactly once, bad files reported once, restarts, blocking checks
stopping automation, hysteresis and cooldown read from the event log, alerts (the check
failure alerts are in test_check_history.py).

(Over 400 lines: one scenario per sensor behaviour, each on its own instance, sharing the
tick and landing helpers at the top; split by sensor they would repeat those helpers.)"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from churn_assets.definitions import defs as load_defs
from churn_assets.lib.ingestion.simulator import SimulatorConfig, simulate, write_monthly_files
from churn_assets_tests.defs.monitoring.ticks import alerts, tick


@pytest.fixture(scope="module")
def monthly_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three clean months and one with 20% defective rows."""
    folder = tmp_path_factory.mktemp("months")
    clean = write_monthly_files(
        simulate(SimulatorConfig(n_customers=300, months=3, seed=4)), folder / "clean"
    )
    dirty = write_monthly_files(
        simulate(
            SimulatorConfig(
                n_customers=300, months=1, seed=5, dirty_rate=0.2, start_month="2026-04-01"
            )
        ),
        folder / "dirty",
    )
    return {p.name: p for p in [*clean, *dirty]}


@pytest.fixture
def landing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "landing"
    folder.mkdir()
    monkeypatch.setenv("CHURN_DATA_URI", str(folder))
    monkeypatch.setenv("CHURN_MONITORING_SETTLE_SECONDS", "0")
    return folder


def test_landing_sensor_ingests_each_file_once(
    landing: Path, monthly_files: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    shutil.copy(monthly_files["customers_2026-01.csv"], landing)
    (landing / "customers_2026-02.csv").write_text("customerID,gender\n")  # header only
    defs = load_defs()
    with dg.instance_for_test() as instance:
        result, cursor = tick(defs, "landing_sensor", instance, None)
        assert [(r.partition_key, r.tags["churn/file"]) for r in result.run_requests] == [
            ("2026-01", str(landing / "customers_2026-01.csv"))
        ]
        assert list(result.dynamic_partitions_requests[0].partition_keys) == ["2026-01"]
        rejected = [a for a in alerts(caplog) if a["kind"] == "ingest_rejected"]
        assert len(rejected) == 1 and "customers_2026-02.csv" in rejected[0]["text"]

        # A restart: a new context from the stored cursor string sees nothing new, and the
        # bad file is not reported again.
        caplog.clear()
        again, cursor = tick(defs, "landing_sensor", instance, cursor)
        assert not again.run_requests and not alerts(caplog)

        # A later good file is still ingested; a corrected re-upload of the bad one too.
        shutil.copy(monthly_files["customers_2026-03.csv"], landing)
        shutil.copy(monthly_files["customers_2026-02.csv"], landing)
        later, cursor = tick(defs, "landing_sensor", instance, cursor)
        assert sorted(r.partition_key for r in later.run_requests) == ["2026-02", "2026-03"]
        # Run keys carry the file version: the same content is never requested twice.
        keys = {r.run_key for r in [*result.run_requests, *later.run_requests]}
        assert len(keys) == 3


def test_a_failed_ingest_is_retried_and_a_decided_one_is_not(
    landing: Path, monthly_files: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    """A landed file is accepted when its run succeeds, not when it is requested: a run that
    failed before validating is retried (new run key), up to three runs, then one critical
    alert; a run that failed on the blocking check after materializing the month decided, and
    is not retried."""
    caplog.set_level(logging.INFO)
    shutil.copy(monthly_files["customers_2026-01.csv"], landing)
    shutil.copy(monthly_files["customers_2026-02.csv"], landing)
    defs = load_defs()
    with dg.instance_for_test() as instance:
        result, cursor = tick(defs, "landing_sensor", instance, None)
        keys = {r.partition_key: r.run_key for r in result.run_requests}
        jan, feb = keys["2026-01"], keys["2026-02"]
        _requested_run(instance, "landing_sensor", jan, False, True, "landed_batch")
        for attempt in (2, 3):
            _requested_run(instance, "landing_sensor", feb, succeed=False)
            result, cursor = tick(defs, "landing_sensor", instance, cursor)
            feb = f"{keys['2026-02']}#{attempt}"
            assert [(r.partition_key, r.run_key) for r in result.run_requests] == [("2026-02", feb)]
        state = json.loads(cursor)
        assert list(state["accepted"]) == [str(landing / "customers_2026-01.csv")]
        _requested_run(instance, "landing_sensor", feb, succeed=False)
        result, cursor = tick(defs, "landing_sensor", instance, cursor)
        assert not result.run_requests
        [failed] = [a for a in alerts(caplog) if a["kind"] == "ingest_failed"]
        assert failed["severity"] == "critical" and "ingest failed 3 time(s)" in failed["text"]
        again, _ = tick(defs, "landing_sensor", instance, cursor)
        assert not again.run_requests
        assert len([a for a in alerts(caplog) if a["kind"] == "ingest_failed"]) == 1


@pytest.mark.faults
@pytest.mark.slow
def test_a_slow_webhook_does_not_hold_up_a_tick_nor_lose_alerts(
    landing: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four bad files land while the webhook answers after 2 s: the tick makes one attempt
    cut to its 0.5 s alert deadline (a count, not a clock: one request reached the server)
    and keeps the four alerts in its cursor; once the webhook is healthy the next tick posts
    all four. Inline, the old sensor spent 2 s on each (up to ~16 s each with retries)."""
    from churn_assets_tests.lib.notify.helpers import Webhook

    webhook = Webhook()
    try:
        webhook.delay = 2.0
        monkeypatch.setenv("CHURN_ALERT_WEBHOOK_URL", webhook.url)
        monkeypatch.setenv("CHURN_ALERT_TICK_DEADLINE_SECONDS", "0.5")
        for month in ("01", "02", "03", "04"):
            (landing / f"customers_2026-{month}.csv").write_text("customerID,gender\n")
        defs = load_defs()
        with dg.instance_for_test() as instance:
            _, cursor = tick(defs, "landing_sensor", instance, None)
            assert len(webhook.requests) == 1
            assert len(json.loads(cursor)["outbox"]) == 4
            assert len(json.loads(cursor)["rejected"]) == 4  # the tick's own work is kept
            webhook.delay = 0.0
            _, cursor = tick(defs, "landing_sensor", instance, cursor)
            assert "outbox" not in json.loads(cursor)
            texts = [p["text"] for p in webhook.payloads()[-4:]]
            assert all("Landed file rejected" in t for t in texts)
    finally:
        webhook.close()


def test_landing_sensor_waits_for_a_file_to_settle(
    landing: Path, monthly_files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHURN_MONITORING_SETTLE_SECONDS", "3600")
    shutil.copy(monthly_files["customers_2026-01.csv"], landing)
    defs = load_defs()
    with dg.instance_for_test() as instance:
        first, cursor = tick(defs, "landing_sensor", instance, None)
        assert not first.run_requests  # seen once: may still be being written
        with open(landing / "customers_2026-01.csv", "a") as handle:
            handle.write(monthly_files["customers_2026-02.csv"].read_text().split("\n", 1)[1])
        growing, cursor = tick(defs, "landing_sensor", instance, cursor)
        assert not growing.run_requests  # it changed: still pending
        settled, _ = tick(defs, "landing_sensor", instance, cursor)
        assert [r.partition_key for r in settled.run_requests] == ["2026-01"]


def test_landing_sensor_skips_on_the_simulator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHURN_DATA_URI", "sim://default")
    with dg.instance_for_test() as instance:
        result, _ = tick(load_defs(), "landing_sensor", instance, None)
    assert isinstance(result, dg.SkipReason) and "simulator" in result.skip_message


def test_automation_scores_landed_months_unless_validation_failed(
    landing: Path, monthly_files: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    shutil.copy(monthly_files["customers_2026-03.csv"], landing)
    shutil.copy(monthly_files["customers_2026-04.csv"], landing)  # 20% defective rows
    defs = load_defs()
    job = defs.resolve_implicit_global_asset_job_def()
    monitoring = dg.AssetSelection.groups("monitoring")
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("months", ["2026-03", "2026-04"])
        # Scoring also needs the training rows; their materialization is what counts here.
        instance.report_runless_asset_event(dg.AssetMaterialization("train_set"))
        baseline = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, asset_selection=monitoring
        )
        _, alerts_cursor = tick(defs, "check_failure_alerts", instance, None)
        runs = {
            month: job.execute_in_process(
                instance=instance,
                asset_selection=[dg.AssetKey("landed_batch")],
                partition_key=month,
                raise_on_error=False,
            )
            for month in ("2026-03", "2026-04")
        }
        assert runs["2026-03"].success
        assert not runs["2026-04"].success  # the blocking check stopped it
        failed = [c for c in runs["2026-04"].get_asset_check_evaluations() if not c.passed]
        assert [c.check_name for c in failed] == ["batch_rejected_share_within_limit"]
        # The rejected rows went to the storage (a bucket in a team), not the worker's disk.
        import pandas as pd

        from churn_assets.lib import settings

        quarantine = settings.storage_location("quarantine", "2026-04.parquet")
        assert len(pd.read_parquet(str(quarantine))) > 0
        assert not (settings.churn_home() / "quarantine").exists()
        # Retention (the built-in contract keeps quarantines 90 days): the step that writes
        # them deletes older ones, and says how many.
        old = quarantine.parent / "2025-01.parquet"
        old.write_bytes(quarantine.read_bytes())
        stale = (datetime.now(UTC) - timedelta(days=91)).timestamp()
        os.utime(old, (stale, stale))
        rerun = job.execute_in_process(
            instance=instance,
            asset_selection=[dg.AssetKey("landed_batch")],
            partition_key="2026-03",
            raise_on_error=False,
        )
        [event] = rerun.get_asset_materialization_events()
        metadata = event.materialization.metadata
        assert metadata["quarantine_files_deleted"].value == 1
        assert metadata["quarantine_retention_days"].value == 90
        assert not old.exists() and quarantine.exists()

        def evaluate(cursor):
            return dg.evaluate_automation_conditions(
                defs=defs, instance=instance, asset_selection=monitoring, cursor=cursor
            )

        # No champion served yet (the first training is still running, say): the months
        # wait instead of failing to find one.
        evaluation = evaluate(baseline.cursor)
        assert evaluation.total_requested == 0
        instance.report_runless_asset_event(dg.AssetMaterialization("churn_bento"))
        # The clean month is scored and then drift-checked (in the same evaluation); the
        # month that failed validation goes no further.
        evaluation = evaluate(evaluation.cursor)
        for asset in ("batch_scores", "drift_report"):
            assert evaluation.get_requested_partitions(dg.AssetKey(asset)) == {"2026-03"}
            instance.report_runless_asset_event(dg.AssetMaterialization(asset, partition="2026-03"))
        # A retraining (new training rows, a new champion served) re-runs no month: the daily
        # drift check re-checks the newest one against the new champion.
        instance.report_runless_asset_event(dg.AssetMaterialization("train_set"))
        instance.report_runless_asset_event(dg.AssetMaterialization("churn_bento"))
        assert evaluate(evaluation.cursor).total_requested == 0

        # The failed check raised a critical alert (it is blocking).
        tick(defs, "check_failure_alerts", instance, alerts_cursor)
        checks = [a for a in alerts(caplog) if a["kind"] == "check_failed"]
        assert len(checks) == 1 and checks[0]["severity"] == "critical"
        assert checks[0]["fields"]["partition"] == "2026-04"


def _report(instance: dg.DagsterInstance, month: str, breached: bool, version: str = "1") -> None:
    instance.add_dynamic_partitions("months", [month])
    flag = 1.0 if breached else 0.0
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            "drift_report",
            partition=month,
            metadata={
                "current_rows": 5000.0,
                "breached": flag,
                "data_drift_breached": flag,
                "prediction_drift_breached": flag,
                "performance_drop_breached": 0.0,
                "model_version": version,
            },
        )
    )


def _served(instance: dg.DagsterInstance, version: str) -> None:
    instance.report_runless_asset_event(
        dg.AssetMaterialization("churn_bento", metadata={"champion_version": version})
    )


def _skipped(result) -> str:
    """The skip message of a tick that requested nothing ("" when it requested runs)."""
    if isinstance(result, dg.SkipReason):
        return result.skip_message or "skipped"
    if isinstance(result, dg.SensorResult) and not result.run_requests and result.skip_reason:
        return result.skip_reason.skip_message or "skipped"
    return ""


def _requested_run(
    instance: dg.DagsterInstance,
    sensor: str,
    run_key: str,
    succeed: bool,
    decided: bool = False,
    deciding_asset: str = "promotion_decision",
) -> None:
    """The run the daemon would have launched for a sensor's request: a real run carrying
    the daemon's tags, that succeeds or fails (after its deciding asset materialized and
    its blocking check failed, with ``decided``)."""

    @dg.asset(name=deciding_asset if decided else "stand_in_step")
    def step() -> int:
        if not succeed and not decided:
            raise RuntimeError("the retraining broke (a store was away, say)")
        return 1

    @dg.asset_check(asset=step, blocking=True)
    def gate() -> dg.AssetCheckResult:
        return dg.AssetCheckResult(passed=succeed)

    tags = {"dagster/sensor_name": sensor, "dagster/run_key": run_key}
    result = dg.materialize([step, gate], instance=instance, tags=tags, raise_on_error=False)
    assert result.success == succeed


def test_retrain_sensor_hysteresis_and_cooldown(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    defs = load_defs()
    with dg.instance_for_test() as instance:
        _served(instance, "1")
        _report(instance, "2026-04", breached=False)
        result, cursor = tick(defs, "retrain_sensor", instance, None)
        assert _skipped(result)

        _report(instance, "2026-05", breached=True)
        result, cursor = tick(defs, "retrain_sensor", instance, cursor)
        assert [r.job_name for r in result.run_requests] == ["champion_reevaluation"]
        assert result.run_requests[0].tags["churn/trigger"] == "reevaluate"

        _report(instance, "2026-06", breached=True)
        result, cursor = tick(defs, "retrain_sensor", instance, cursor)
        assert [r.job_name for r in result.run_requests] == ["churn_pipeline"]
        assert result.run_requests[0].run_key == "retrain-v1-2026-06"
        assert "2 of the last 3" in result.run_requests[0].tags["churn/reason"]
        assert [a["kind"] for a in alerts(caplog)] == ["retrain_triggered"]
        # Requested is not retrained: no cooldown yet, and no second request while it runs.
        assert "last_retrain_at" not in json.loads(cursor)
        result, cursor = tick(defs, "retrain_sensor", instance, cursor)
        assert "still under way" in _skipped(result)

        # The run succeeds: the 7-day cooldown starts at its end, and holds after a restart.
        _requested_run(instance, "retrain_sensor", "retrain-v1-2026-06", succeed=True)
        result, cursor = tick(defs, "retrain_sensor", instance, cursor)
        assert json.loads(cursor)["last_retrain_at"]
        assert [r.job_name for r in result.run_requests] == ["champion_reevaluation"]
        assert "cooldown" in result.run_requests[0].tags["churn/reason"]

        # A new champion is served: v1's breaches no longer count.
        _served(instance, "2")
        result, _ = tick(defs, "retrain_sensor", instance, cursor)
        assert _skipped(result)


def test_a_failed_retraining_does_not_start_the_cooldown(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The run a retraining request launched fails: retraining is requested again at once
    (a new run key), up to three runs, then one critical alert and no more attempts for that
    evidence. A retraining whose gate rejected the challenger (the run fails after the
    decision) did retrain: the cooldown applies."""
    caplog.set_level(logging.INFO)
    defs = load_defs()
    with dg.instance_for_test() as instance:
        _served(instance, "1")
        for month in ("2026-05", "2026-06"):
            _report(instance, month, breached=True)
        result, cursor = tick(defs, "retrain_sensor", instance, None)
        keys = [result.run_requests[0].run_key]
        for _ in (2, 3):
            _requested_run(instance, "retrain_sensor", keys[-1], succeed=False)
            result, cursor = tick(defs, "retrain_sensor", instance, cursor)
            assert [r.job_name for r in result.run_requests] == ["churn_pipeline"]
            keys.append(result.run_requests[0].run_key)
            assert "last_retrain_at" not in json.loads(cursor)
        assert keys == ["retrain-v1-2026-06", "retrain-v1-2026-06#2", "retrain-v1-2026-06#3"]
        _requested_run(instance, "retrain_sensor", keys[-1], succeed=False)
        result, cursor = tick(defs, "retrain_sensor", instance, cursor)
        assert "failed every attempt" in _skipped(result)
        failed = [a for a in alerts(caplog) if a["kind"] == "retrain_failed"]
        assert len(failed) == 1 and failed[0]["severity"] == "critical"
        tick(defs, "retrain_sensor", instance, cursor)
        assert len([a for a in alerts(caplog) if a["kind"] == "retrain_failed"]) == 1

        # New evidence starts over; a gate rejection counts as a retraining done.
        _report(instance, "2026-07", breached=True)
        result, cursor = tick(defs, "retrain_sensor", instance, cursor)
        assert [r.run_key for r in result.run_requests] == ["retrain-v1-2026-07"]
        _requested_run(instance, "retrain_sensor", "retrain-v1-2026-07", False, decided=True)
        result, cursor = tick(defs, "retrain_sensor", instance, cursor)
        assert json.loads(cursor)["last_retrain_at"]
        assert "cooldown" in result.run_requests[0].tags["churn/reason"]


def test_an_unreadable_drift_verdict_is_reported_once_and_the_rest_still_retrain(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    defs = load_defs()
    with dg.instance_for_test() as instance:
        _served(instance, "1")
        _report(instance, "2026-04", breached=True)
        instance.add_dynamic_partitions("months", ["2026-05"])
        instance.report_runless_asset_event(
            dg.AssetMaterialization(
                "drift_report", partition="2026-05", metadata={"model_version": "1"}
            )
        )
        _report(instance, "2026-06", breached=True)
        result, cursor = tick(defs, "retrain_sensor", instance, None)
        # 2026-04 and 2026-06 breach (k=2 of n=3): the trigger fires without 2026-05.
        assert [r.run_key for r in result.run_requests] == ["retrain-v1-2026-06"]
        assert "not counted: 2026-05" in result.run_requests[0].tags["churn/reason"]
        unknown = [a for a in alerts(caplog) if a["kind"] == "verdict_unknown"]
        assert len(unknown) == 1 and "2026-05: the drift report has no" in unknown[0]["text"]
        tick(defs, "retrain_sensor", instance, cursor)  # reported in the log, alerted once
        assert len([a for a in alerts(caplog) if a["kind"] == "verdict_unknown"]) == 1


def test_schedules(monkeypatch: pytest.MonkeyPatch) -> None:
    defs = load_defs()
    weekly = defs.resolve_schedule_def("weekly_retraining")
    assert weekly.cron_schedule == "0 3 * * 1"
    assert weekly.default_status == dg.DefaultScheduleStatus.STOPPED
    assert weekly.job_name == "churn_pipeline"
    daily = defs.resolve_schedule_def("daily_drift_check")
    assert daily.default_status == dg.DefaultScheduleStatus.RUNNING
    at = datetime(2026, 11, 24, 6, tzinfo=UTC)
    with dg.instance_for_test() as instance:
        nothing = daily(dg.build_schedule_context(instance=instance, scheduled_execution_time=at))
        assert isinstance(nothing, dg.SkipReason)
        instance.add_dynamic_partitions("months", ["2026-04", "2026-05"])
        request = daily(dg.build_schedule_context(instance=instance, scheduled_execution_time=at))
        assert (request.partition_key, request.run_key) == (
            "2026-05",
            "drift-check-2026-05-2026-11-24",
        )
    for name in ("landing_sensor", "retrain_sensor", "check_failure_alerts"):
        assert defs.resolve_sensor_def(name).default_status == dg.DefaultSensorStatus.RUNNING


def test_monitoring_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from churn_assets.lib.monitoring.config import DriftConfig, TriggerConfig

    monkeypatch.setenv("CHURN_MONITORING_NUMERIC_METHOD", "psi")
    monkeypatch.setenv("CHURN_MONITORING_NUMERIC_THRESHOLD", "0.2")
    monkeypatch.setenv("CHURN_MONITORING_MAX_ROWS", "50000")
    monkeypatch.setenv("CHURN_MONITORING_RETRAIN_K", "3")
    monkeypatch.setenv("CHURN_MONITORING_RETRAIN_COOLDOWN_HOURS", "1.5")
    monkeypatch.setenv("CHURN_MONITORING_TOP_REASONS", "0")
    settings = load_defs().resources["monitoring"]  # what the assets and sensors get
    assert settings.drift_config() == DriftConfig(
        numeric_method="psi", numeric_threshold=0.2, max_rows=50_000
    )
    assert settings.trigger_config() == TriggerConfig(k=3, cooldown=timedelta(hours=1.5))
    assert settings.top_reasons == 0


def test_every_sensor_ticks_at_the_one_interval() -> None:
    """CHURN_SENSOR_INTERVAL_SECONDS sets every sensor's interval, the automation sensor's
    too (read when the definitions load, so in a fresh process here)."""
    probe = (
        "from churn_assets.definitions import defs;"
        "print(sorted({s.minimum_interval_seconds for s in defs().sensors}))"
    )
    intervals = {}
    for value in (None, "5"):
        env = {k: v for k, v in os.environ.items() if k != "CHURN_SENSOR_INTERVAL_SECONDS"}
        if value:
            env["CHURN_SENSOR_INTERVAL_SECONDS"] = value
        done = subprocess.run(
            [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
        )
        intervals[value] = done.stdout.strip().splitlines()[-1]
    assert intervals == {None: "[30]", "5": "[5]"}
    names = {s.name for s in load_defs().sensors}
    assert {
        "landing_sensor",
        "retrain_sensor",
        "check_failure_alerts",
        "run_failure_alerts",
        "monitoring_automation",
    } <= names
