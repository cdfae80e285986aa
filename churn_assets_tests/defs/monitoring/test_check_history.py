"""check_failure_alerts and the check execution history it reads (not public Dagster API, see
`churn_assets/defs/monitoring/check_history.py`): every failed check alerted once, by
execution id, checks in progress followed until their verdict; events built with public API
(runless verdicts, and real runs held in progress in a thread)."""

from __future__ import annotations

import json
import logging
import threading
import time

import dagster as dg
import pytest

from churn_assets.definitions import defs as load_defs
from churn_assets_tests.defs.monitoring.ticks import alerts, tick

LANDED, CHECK = dg.AssetKey("landed_batch"), "batch_rejected_share_within_limit"


def _verdict(instance: dg.DagsterInstance, month: str, passed: bool) -> None:
    """A verdict of `batch_rejected_share_within_limit` that is there at once (no run)."""
    instance.add_dynamic_partitions("months", [month])
    instance.report_runless_asset_event(
        dg.AssetCheckEvaluation(asset_key=LANDED, check_name=CHECK, passed=passed, partition=month)
    )


class _Run:
    """A real run of a stand-in `landed_batch` whose check is planned when the run starts and
    answers only when released: in progress until then. ``passed=None`` crashes the step
    before the check runs, so the run ends without a verdict."""

    def __init__(self, instance: dg.DagsterInstance, month: str, passed: bool | None):
        self.month = month
        self.release = threading.Event()
        release = self.release
        instance.add_dynamic_partitions("months", [month])

        @dg.asset(
            name="landed_batch",
            partitions_def=dg.DynamicPartitionsDefinition(name="months"),
            check_specs=[
                dg.AssetCheckSpec(
                    CHECK,
                    asset="landed_batch",
                    partitions_def=dg.DynamicPartitionsDefinition(name="months"),
                )
            ],
        )
        def stand_in():
            assert release.wait(600), "never released"
            if passed is None:
                raise RuntimeError("crashed before its check")
            yield dg.Output(1)
            yield dg.AssetCheckResult(check_name=CHECK, passed=passed)

        self.thread = threading.Thread(
            target=dg.materialize,
            args=([stand_in],),
            kwargs={"instance": instance, "partition_key": month, "raise_on_error": False},
        )
        self.thread.start()
        started = dg.RunsFilter(tags={"dagster/partition": month})
        deadline = time.monotonic() + 60
        while not any(r.status == dg.DagsterRunStatus.STARTED for r in instance.get_runs(started)):
            assert time.monotonic() < deadline, f"the run for {month} did not start"
            time.sleep(0.05)

    def finish(self) -> None:
        """Release the run and wait until the instance records its end (the sensor reads the
        run's status: a join alone may return before it is stored on a loaded machine)."""
        self.release.set()
        self.thread.join(600)
        assert not self.thread.is_alive(), f"the run for {self.month} did not end"


def test_check_alerts_follow_history_not_clock(caplog: pytest.LogCaptureFixture) -> None:
    """Failures from before the sensor started are not alerted; a check still running when
    the sensor ticks (even the first tick) is alerted once its verdict lands; a run that
    ended without a verdict is let go; each failure is alerted once, however many land
    between two ticks; a cursor of the older format starts afresh instead of replaying."""
    caplog.set_level(logging.INFO)
    defs = load_defs()
    check = f"landed_batch:{CHECK}"

    def failures() -> list[str]:
        return [a["fields"]["partition"] for a in alerts(caplog) if a["kind"] == "check_failed"]

    with dg.instance_for_test() as instance:
        _verdict(instance, "old", passed=False)
        at_start = _Run(instance, "at-start", passed=False)
        _, cursor = tick(defs, "check_failure_alerts", instance, None)
        assert json.loads(cursor)["open"] == {check: [2]}
        # Within the same second as the first tick: SQLite's row timestamps could not tell.
        run_a = _Run(instance, "run-a", passed=False)
        _verdict(instance, "run-b", passed=False)
        crashed = _Run(instance, "run-c", passed=None)  # no verdict will ever come
        crashed.finish()
        _, cursor = tick(defs, "check_failure_alerts", instance, cursor)
        assert failures() == ["run-b"]  # run-a and the first one are still in progress
        assert json.loads(cursor)["open"] == {check: [2, 3]}
        run_a.finish()
        at_start.finish()
        _, cursor = tick(defs, "check_failure_alerts", instance, cursor)
        _, cursor = tick(defs, "check_failure_alerts", instance, cursor)
        assert failures() == ["run-b", "at-start", "run-a"]
        assert json.loads(cursor)["open"] == {}

        # A backfill: more failures between two ticks than one page of history.
        for i in range(130):
            _verdict(instance, f"backfill-{i}", passed=False)
        _, cursor = tick(defs, "check_failure_alerts", instance, cursor)
        assert failures()[3:] == [f"backfill-{i}" for i in range(130)]

        # The cursor format before ids (a wall-clock "since"): start afresh, replay nothing.
        tick(defs, "check_failure_alerts", instance, json.dumps({"since": 0.0, "seen": {}}))
        assert len(failures()) == 133


def test_check_alerts_carry_no_rows(caplog: pytest.LogCaptureFixture) -> None:
    """A failed check's metadata may hold previews of customer rows (the quarantine's
    examples, failure cases): the alert passes on numbers, flags, links and short text only."""
    caplog.set_level(logging.INFO)
    defs = load_defs()
    with dg.instance_for_test() as instance:
        _, cursor = tick(defs, "check_failure_alerts", instance, None)
        instance.add_dynamic_partitions("months", ["2026-04"])
        rows = "| customerID | gender |\n|---|---|\n| 7590-VHVEG | Female |"
        instance.report_runless_asset_event(
            dg.AssetCheckEvaluation(
                asset_key=LANDED,
                check_name=CHECK,
                passed=False,
                partition="2026-04",
                description="20.00% of rows quarantined\n" + rows,
                metadata={
                    "examples": dg.MetadataValue.md(rows),
                    "value": 0.2,
                    "failure_cases": dg.MetadataValue.json({"customerID": ["7590-VHVEG"]}),
                    "threshold": 0.05,
                    "note": "7590-VHVEG | Female",
                    "report": dg.MetadataValue.url("http://dagster/runs/1"),
                },
            )
        )
        tick(defs, "check_failure_alerts", instance, cursor)
    [alert] = [a for a in alerts(caplog) if a["kind"] == "check_failed"]
    assert alert["text"] == "20.00% of rows quarantined"
    assert {k: alert["fields"][k] for k in ("value", "threshold", "report")} == {
        "value": "0.2",
        "threshold": "0.05",
        "report": "http://dagster/runs/1",
    }
    assert "7590-VHVEG" not in json.dumps(alert)


def test_a_gate_rejection_is_not_alerted_again_as_failed_checks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The gate's failed checks are its decision, alerted once by promotion_decision itself
    (`gate_rejected`): the sensor leaves them alone and still alerts every other check."""
    caplog.set_level(logging.INFO)
    defs = load_defs()
    gate = dg.AssetKey("promotion_decision")
    with dg.instance_for_test() as instance:
        _, cursor = tick(defs, "check_failure_alerts", instance, None)
        for name in ("gate_quality_floors", "gate_fairness"):
            instance.report_runless_asset_event(
                dg.AssetCheckEvaluation(asset_key=gate, check_name=name, passed=False)
            )
        _verdict(instance, "2026-04", passed=False)
        tick(defs, "check_failure_alerts", instance, cursor)
    sent = [a for a in alerts(caplog) if a["kind"] == "check_failed"]
    assert [a["fields"]["asset"] for a in sent] == ["landed_batch"]


def test_run_failures_are_alerted_once_from_the_event_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    defs = load_defs()

    @dg.asset
    def breaks() -> None:
        raise RuntimeError("broken")

    def fail(run_key: str) -> str:
        result = dg.materialize(
            [breaks], instance=instance, tags={"churn/trigger": run_key}, raise_on_error=False
        )
        return result.run_id

    with dg.instance_for_test() as instance:
        before = fail("before")  # before the sensor started: not alerted
        _, cursor = tick(defs, "run_failure_alerts", instance, None)
        later = [fail("a"), fail("b")]
        _, cursor = tick(defs, "run_failure_alerts", instance, cursor)
        _, cursor = tick(defs, "run_failure_alerts", instance, cursor)
    sent = [a for a in alerts(caplog) if a["kind"] == "run_failure"]
    assert [a["fields"]["run_id"] for a in sent] == later and before not in json.dumps(sent)
    assert [a["fields"]["churn/trigger"] for a in sent] == ["a", "b"]
    assert all(a["severity"] == "critical" for a in sent)


def test_the_check_history_api_we_rely_on() -> None:
    """check_failure_alerts reads Dagster's check execution history, which is not public API
    (see `check_history`): this fails loudly when its shape changes."""
    import inspect

    from churn_assets.defs.monitoring import check_history

    planned, failed = check_history.statuses()
    assert (planned.value, failed.value) == ("PLANNED", "FAILED")
    with dg.instance_for_test() as instance:
        history = instance.event_log_storage.get_asset_check_execution_history
        assert {"check_key", "limit", "cursor"} <= set(inspect.signature(history).parameters)
        _verdict(instance, "2026-04", passed=False)
        [record] = check_history.latest(instance, dg.AssetCheckKey(LANDED, CHECK))
        assert (record.status, record.partition, record.run_id) == (failed, "2026-04", "")
        assert (
            isinstance(record.id, int) and not record.event.dagster_event.event_specific_data.passed
        )
