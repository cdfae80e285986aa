"""The real daemon on the Postgres instance: churn_pipeline runs wait for each other (tag
concurrency), and a run whose worker dies is failed and alerted instead of holding the queue."""

from __future__ import annotations

import re
import time

import dagster as dg
import psutil
import pytest

from churn_assets.team import runs
from churn_assets.team.stack import TeamStack
from churn_assets_tests.lib.notify.helpers import Webhook
from churn_assets_tests.team.conftest import small_data_ops

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

FAST = {"ops": small_data_ops()}
WORKER_PID = re.compile(r"Started process for run \(pid: (\d+)\)")


def until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f} s waiting for {what}"
        time.sleep(1)
    return value


def status(instance: dg.DagsterInstance, run_id: str) -> dg.DagsterRunStatus:
    return instance.get_run_by_id(run_id).status


def worker_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    for record in instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ENGINE_EVENT
    ).records:
        match = WORKER_PID.search(record.event_log_entry.message or "")
        if match:
            return int(match.group(1))
    return None


def kill_tree(pid: int) -> None:
    """SIGKILL a process and everything it started, as when its machine or pod dies."""
    root = psutil.Process(pid)
    for process in [*root.children(recursive=True), root]:
        process.kill()


def test_pipeline_runs_queue_one_after_another_and_a_dead_worker_fails_its_run(
    team_stack: TeamStack, team_webhook: Webhook, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in team_stack.env().items():
        monkeypatch.setenv(name, value)
    env = team_stack.process_env()
    first = runs.launch("churn_pipeline", env, run_config=FAST)
    second = runs.launch("churn_pipeline", env, run_config=FAST)
    started = dg.DagsterRunStatus.STARTED
    with dg.DagsterInstance.get() as instance:
        assert instance.get_run_by_id(first).tags["churn/writes"] == "training-graph"
        until(lambda: status(instance, first) == started, 240, "the first run to start")
        pid = until(lambda: worker_pid(instance, first), 60, "the first run's worker pid")
        # Two runs fit the instance's limit; the tag limit alone keeps the second queued.
        for _ in range(15):
            assert status(instance, second) == dg.DagsterRunStatus.QUEUED
            time.sleep(1)
        kill_tree(pid)
        until(lambda: instance.get_run_by_id(first).is_finished, 120, "the dead run to end")
        assert status(instance, first) == dg.DagsterRunStatus.FAILURE
        messages = [
            r.event_log_entry.message or "" for r in instance.get_records_for_run(first).records
        ]
        assert any("Run execution process for" in m for m in messages), messages[-5:]
        # The slot is free: the second run starts, and only after the first ended.
        until(lambda: status(instance, second) != dg.DagsterRunStatus.QUEUED, 120, "dequeue")
        done = runs.wait(instance, second, timeout=1200, progress=False)
        assert done.status == dg.DagsterRunStatus.SUCCESS
        first_record = instance.get_run_record_by_id(first)
        second_record = instance.get_run_record_by_id(second)
        assert second_record.start_time >= first_record.end_time
    # run_failure_alerts (a sensor of the same daemon) sent a critical alert naming the run.
    until(
        lambda: any(first in str(p) for p in team_webhook.payloads()),
        120,
        "the run failure alert",
    )


def test_team_down_fails_the_runs_it_interrupts(
    team_stack: TeamStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without this, a run stopped with the stack would stay STARTED in Postgres after the
    next `team up`, holding the churn/writes slot until run monitoring's 4 hours."""
    for name, value in team_stack.env().items():
        monkeypatch.setenv(name, value)
    run_id = runs.launch("churn_pipeline", team_stack.process_env(), run_config=FAST)
    with dg.DagsterInstance.get() as instance:
        until(lambda: status(instance, run_id) == dg.DagsterRunStatus.STARTED, 240, "start")
    stopped = team_stack.down()
    assert stopped[-1] == "postgres" and "dagster-daemon" in stopped
    team_stack.up()  # the next tests use the stack again
    with dg.DagsterInstance.get() as instance:
        assert status(instance, run_id) == dg.DagsterRunStatus.FAILURE
        # Whoever got there first says so: the run worker saw the SIGTERM ("Execution was
        # interrupted"), or its step did and failed ("An exception was thrown during
        # execution"), or both died first and `team down` failed the run ("Interrupted by").
        messages = [r.event_log_entry.message for r in instance.get_records_for_run(run_id).records]
        reasons = ("nterrupted", "An exception was thrown during execution")
        assert any(reason in (m or "") for m in messages for reason in reasons), messages[-5:]
