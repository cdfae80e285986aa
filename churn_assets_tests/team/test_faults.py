"""Stores taken away on the team stack, the way they go: the process killed (SIGKILL), then
started again. The bucket (``rclone serve s3``) and the MLflow server are the session stack's own;
each test restores what it killed (in a ``finally``) and checks the stack's status after, so the
other team tests see a whole stack. What the platform does is described in docs/deployment.md,
"What happens when a store goes away".
"""

import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import pandas as pd
import psutil
import pytest

from churn_assets.defs.io_managers import StoreUnavailableError, TableIOManager, write_whole
from churn_assets.defs.resources import MlflowTracking
from churn_assets.lib.training.families import FAMILIES
from churn_assets.team import runs
from churn_assets.team.report import REGISTERED_MODEL
from churn_assets.team.stack import STORE_RETRIES, TeamStack
from churn_assets_tests.team.test_run_queue import FAST, until

log = logging.getLogger(__name__)
pytestmark = [pytest.mark.faults, pytest.mark.slow, pytest.mark.timeout(1500)]

STEP_FAILURE = dg.DagsterEventType.STEP_FAILURE
FRAME = pd.DataFrame({"customer_id": [f"c{i}" for i in range(100)], "tenure": range(100)})


@contextmanager
def killed(stack: TeamStack, name: str) -> Iterator[dict[str, float]]:
    """The service SIGKILLed on entry, started again on exit (however the test went); yields
    a dict that gets the outage and restart seconds."""
    service = stack.service(name)
    assert service.kill(), f"{name} was not running"
    began = time.monotonic()
    timing: dict[str, float] = {}
    try:
        yield timing
    finally:
        back = time.monotonic()
        service.start()
        timing["restart_s"] = time.monotonic() - back
        timing["outage_s"] = time.monotonic() - began
        assert all(stack.status().values()), stack.status()


@pytest.fixture
def stack_env(team_stack: TeamStack, monkeypatch: pytest.MonkeyPatch) -> TeamStack:
    import s3fs

    for name, value in team_stack.env().items():
        monkeypatch.setenv(name, value)
    s3fs.S3FileSystem.clear_instance_cache()  # its clients hold the environment of their start
    return team_stack


def _io(base: str):
    return TableIOManager(base_uri=base).create_io_manager(dg.build_init_resource_context())


def test_the_bucket_away_names_itself_and_no_object_is_ever_half_written(
    stack_env: TeamStack,
) -> None:
    stack = stack_env
    base = f"s3://{stack.bucket}/faults-{uuid.uuid4().hex[:8]}"
    io_manager = _io(base)
    out = dg.build_output_context(asset_key="table")
    io_manager.handle_output(out, FRAME)
    with killed(stack, "s3") as timing:
        started = time.monotonic()
        with pytest.raises(StoreUnavailableError) as write_error:
            io_manager.handle_output(dg.build_output_context(asset_key="table"), FRAME.head(3))
        with pytest.raises(StoreUnavailableError) as read_error:
            io_manager.load_input(dg.build_input_context(asset_key="table"))
        failing_s = (time.monotonic() - started) / 2
    for error in (write_error.value, read_error.value):
        assert f"bucket {stack.bucket!r} at {stack.s3_url}" in str(error)
        assert f"{base}/table.parquet" in str(error)
        assert "EndpointConnectionError" in type(error.__cause__).__name__
    # Bounded: the client's few attempts (AWS_MAX_ATTEMPTS), not a hang.
    assert failing_s < 60, failing_s
    # The failed overwrite left the earlier table whole.
    assert io_manager.load_input(dg.build_input_context(asset_key="table")).equals(FRAME)

    # The server killed in the middle of an upload: the key keeps its previous object, whole.
    path = io_manager._base_path / "big.parquet"
    io_manager.handle_output(dg.build_output_context(asset_key="big"), FRAME)
    # 95 MiB: one PUT (s3fs uploads in parts from 100 MiB).
    interrupted = _kill_mid_upload(stack, path, os.urandom(95 * 2**20))
    loaded = io_manager.load_input(dg.build_input_context(asset_key="big"))
    assert loaded.equals(FRAME)
    assert all(stack.status().values()), stack.status()
    log.warning(
        f"\nbucket: a call fails after {failing_s:.1f} s; rclone back in "
        f"{timing['restart_s']:.1f} s; upload cut after {interrupted:.1f} s left the old object"
    )


def _kill_mid_upload(stack: TeamStack, path, data: bytes) -> float:
    """Kill the S3 server while it receives ``data`` for ``path`` (rclone holds a body in memory
    until it has all of it: its growth says the upload is under way); seconds into the upload."""
    service = stack.service("s3")
    server = psutil.Process(service.pid())
    baseline = server.memory_info().rss
    outcome: dict[str, object] = {}

    def upload() -> None:
        try:
            write_whole(path, data)
            outcome["done"] = True
        except Exception as exc:  # the connection is cut: what the test wants
            outcome["error"] = exc

    thread = threading.Thread(target=upload)
    began = time.monotonic()
    thread.start()
    deadline = time.monotonic() + 60
    while thread.is_alive() and server.memory_info().rss < baseline + len(data) // 8:
        assert time.monotonic() < deadline, "the upload never reached the server"
        time.sleep(0.005)
    with killed(stack, "s3"):
        at = time.monotonic() - began
        thread.join(60)
    assert "error" in outcome, "the upload finished before the server was killed"
    return at


class TrackingProbe:
    """A one-asset Dagster run (in this process) whose step has its MLflow run open when the
    tracking server is killed: the run cannot be ended (it stays RUNNING on the server) and the
    step fails naming the server and what to do. Run again once the server is back (a new
    Dagster run, as a re-launch), the step ends that orphan and logs its own run."""

    def __init__(self, stack: TeamStack) -> None:
        self.stack = stack
        self.experiment = f"faults-{uuid.uuid4().hex[:8]}"
        self.instance = dg.DagsterInstance.ephemeral()  # both runs: the second sees the first
        self.crash = True
        self.failed_after_s = 0.0
        self.resources = {
            "mlflow": MlflowTracking(tracking_uri=stack.mlflow_url, experiment=self.experiment)
        }

    def asset(self) -> dg.AssetsDefinition:
        probe = self

        @dg.asset(name="logged")
        def logged(context: dg.AssetExecutionContext, mlflow: MlflowTracking) -> None:
            import mlflow as mlflow_lib

            with mlflow.start_run(context, "faults-probe"):
                mlflow_lib.log_param("attempt", "first" if probe.crash else "second")
                if probe.crash:
                    probe.stack.service("mlflow").kill()
                    probe.killed_at = time.monotonic()
                mlflow_lib.log_metric("logged", 1.0)

        return logged

    def kill_the_server_in_a_step(self) -> None:
        first = dg.materialize(
            [self.asset()], resources=self.resources, instance=self.instance, raise_on_error=False
        )
        self.failed_after_s = time.monotonic() - self.killed_at
        assert not first.success
        (failure,) = [e for e in first.all_events if e.event_type == STEP_FAILURE]
        error = failure.step_failure_data.error
        while error.cls_name != "TrackingServerUnavailableError":
            error = error.cause
            assert error is not None, failure.step_failure_data.error
        assert f"MLflow tracking server {self.stack.mlflow_url} did not answer" in error.message
        assert "re-execute the run from failure" in error.message
        assert self.failed_after_s < 60, self.failed_after_s  # bounded: never a hang

    def rerun_ends_the_orphan(self) -> None:
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=self.stack.mlflow_url)
        exp_id = client.get_experiment_by_name(self.experiment).experiment_id
        (orphan,) = client.search_runs([exp_id])
        assert orphan.info.status == "RUNNING"  # what the dead server could not record
        self.crash = False
        second = dg.materialize([self.asset()], resources=self.resources, instance=self.instance)
        assert second.success
        by_status = {r.info.status: r for r in client.search_runs([exp_id])}
        assert sorted(by_status) == ["FAILED", "FINISHED"], by_status
        assert by_status["FAILED"].info.run_id == orphan.info.run_id
        assert "churn.abandoned" in by_status["FAILED"].data.tags
        assert by_status["FINISHED"].data.params == {"attempt": "second"}


def test_store_retries_of_the_stack_ride_over_a_restart_and_then_give_up() -> None:
    """The numbers in TeamStack.env(): MLflow's client (urllib3's Retry, as MLflow builds it)
    waits ~1 minute in total on a refused connection; never MLflow's default ~4 minutes."""
    from mlflow.utils.request_utils import (
        _get_request_session,
    )  # private: the session MLflow builds

    retries = int(STORE_RETRIES["MLFLOW_HTTP_REQUEST_MAX_RETRIES"])
    session = _get_request_session(
        max_retries=retries,
        backoff_factor=int(STORE_RETRIES["MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"]),
        backoff_jitter=0.0,
        retry_codes=(503,),
        raise_on_status=True,
        respect_retry_after_header=True,
    )
    retry = session.get_adapter("http://x").max_retries
    waits = []
    for _ in range(retries):
        retry = retry.increment(method="GET", url="/", error=ConnectionRefusedError())
        waits.append(retry.get_backoff_time())
    assert 45 <= sum(waits) <= 90, waits
    assert int(STORE_RETRIES["MLFLOW_HTTP_REQUEST_TIMEOUT"]) <= 60


def _events(instance: dg.DagsterInstance, run_id: str, kind: dg.DagsterEventType) -> list:
    return [
        r.event_log_entry.dagster_event
        for r in instance.get_records_for_run(run_id, of_type=kind).records
    ]


def test_a_run_heals_when_the_bucket_and_the_tracking_server_go_away_and_come_back(
    stack_env: TeamStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One churn_pipeline run through the daemon. The bucket is
    killed as the first step starts and started again once a step has failed for it
    (STEP_UP_FOR_RETRY): the step retry heals it. The MLflow server is killed while a tuning
    step's MLflow run is open (by the TrackingProbe's step, which shows the error a step gets)
    and started again: the client's retries or the step retry heal the run. It ends with nothing
    lost (a success, or the gate's verdict): every tuning run and the candidate's run FINISHED,
    the candidate registered once, no MLflow run (nor trial
    run) left RUNNING. One run and one MLflow restart for all of it (a restart takes 12-90 s
    here, depending on the load)."""
    from mlflow import MlflowClient

    stack = stack_env
    # In this process only (the probe): one quick retry, so its step fails at once; the run's
    # steps keep the stack's ~1 minute (test_store_retries_of_the_stack_...).
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    env = stack.process_env()
    client = MlflowClient(tracking_uri=stack.mlflow_url)
    run_id = runs.launch("churn_pipeline", env, run_config=FAST)
    measured: dict[str, float] = {}
    with dg.DagsterInstance.get() as instance:
        until(
            lambda: _events(instance, run_id, dg.DagsterEventType.STEP_START), 300, "a step start"
        )
        with killed(stack, "s3") as bucket:
            until(
                lambda: (
                    _events(instance, run_id, dg.DagsterEventType.STEP_UP_FOR_RETRY)
                    or instance.get_run_by_id(run_id).is_finished
                ),
                120,
                "a step to fail for the bucket",
            )
        measured["bucket_outage_s"] = bucket["outage_s"]

        def tuning_run_open() -> bool:
            experiments = [e.experiment_id for e in client.search_experiments()]
            found = client.search_runs(
                experiments,
                f"tags.`dagster.run_id` = '{run_id}' and attributes.status = 'RUNNING'",
            )
            return any(r.info.run_name.startswith("tune-") for r in found) or (
                instance.get_run_by_id(run_id).is_finished
            )

        until(tuning_run_open, 600, "a tuning step's MLflow run")
        probe = TrackingProbe(stack)
        began = time.monotonic()
        try:
            probe.kill_the_server_in_a_step()  # its step kills the server under the tuning step
        finally:
            back = time.monotonic()
            stack.service("mlflow").start()
            measured["mlflow_restart_s"] = time.monotonic() - back
            measured["mlflow_outage_s"] = time.monotonic() - began
        assert all(stack.status().values()), stack.status()
        measured["probe_failed_after_s"] = probe.failed_after_s
        probe.rerun_ends_the_orphan()
        # A gate rejection of this small data's candidate is a decision (the run succeeds),
        # so any failed run is a fault that did not heal.
        runs.wait(instance, run_id, timeout=1500, progress=False)
        retried = {
            e.step_key for e in _events(instance, run_id, dg.DagsterEventType.STEP_UP_FOR_RETRY)
        }
        succeeded = {
            e.step_key for e in _events(instance, run_id, dg.DagsterEventType.STEP_SUCCESS)
        }
        assert retried and retried <= succeeded, (retried, succeeded)
        failures = _events(instance, run_id, dg.DagsterEventType.STEP_UP_FOR_RETRY)
        assert any(
            "StoreUnavailableError" in str(e.event_specific_data.error.to_string())
            for e in failures
        ), [e.event_specific_data.error.message for e in failures]
    experiments = [e.experiment_id for e in client.search_experiments()]
    ours = client.search_runs(experiments, f"tags.`dagster.run_id` = '{run_id}'")
    assert not [r.info.run_name for r in ours if r.info.status == "RUNNING"]
    running = client.search_runs(experiments, "attributes.status = 'RUNNING'")
    ids = {r.info.run_id for r in ours}
    assert not [r for r in running if r.data.tags.get("mlflow.parentRunId") in ids]  # trials
    assert {r.info.run_name for r in ours if r.info.status == "FINISHED"} >= {"champion-candidate"}
    tuned = {r.info.run_name for r in ours if r.info.status == "FINISHED"}
    assert {f"tune-{family}" for family in FAMILIES} <= tuned, tuned
    # Registered once (promotion_decision registers the candidate before judging it).
    versions = client.search_model_versions(f"name = '{REGISTERED_MODEL}'")
    of_run = [v for v in versions if v.tags.get("dagster.run_id") == run_id]
    assert len(of_run) == 1, [(v.version, v.tags) for v in of_run]
    log.warning(f"\nrun {run_id[:8]}: retried {sorted(retried)}; {measured}")
