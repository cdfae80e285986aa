"""Faults during a search: a tuning process SIGKILLed mid-trial and restarted (on the journal
and on Postgres), the MLflow server taken away mid-study, and who owns a running trial or
run when pids are reused."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from mlflow import MlflowClient
from optuna.trial import TrialState

from churn_assets.lib.tracking import default_tracking_uri, setup
from churn_assets.lib.training.budget import TuningBudget
from churn_assets.lib.training.owners import Owner, process_start
from churn_assets.lib.training.session import TrialRuns
from churn_assets.lib.training.studies import (
    OWNER_START_ATTR,
    StudyStore,
    fail_stale_trials,
    open_study,
    record_owner,
)
from churn_assets.lib.training.trial_runs import (
    ENDED_REASON_TAG,
    OWNER_HOST_TAG,
    OWNER_PID_TAG,
    OWNER_STARTED_TAG,
    STUDY_TAG,
    TrialLogging,
    end_orphaned_runs,
)
from churn_assets.lib.training.tuning import tune
from churn_assets_tests.lib.training import tuning_process
from churn_assets_tests.optuna_worker import small_problem
from churn_assets_tests.servers import free_port, server_process, stop

DONE = (TrialState.COMPLETE, TrialState.PRUNED)
MODULE = "churn_assets_tests.lib.training.tuning_process"


def _kill_mid_trial(home: Path, name: str, n_trials: int, url: str) -> optuna.trial.FrozenTrial:
    """Start a real tuning process, SIGKILL it while it runs a trial (after one completed);
    the trial it was running."""
    process = subprocess.Popen(
        [sys.executable, "-m", MODULE, str(home), name, str(n_trials), url],
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        start_new_session=True,
    )
    storage = tuning_process.store(home, url).open()
    deadline = time.monotonic() + 120
    try:
        while True:
            assert process.poll() is None, process.stderr.read().decode()[-3000:]
            assert time.monotonic() < deadline, "the tuning process never ran a second trial"
            try:
                trials = optuna.load_study(study_name=name, storage=storage).get_trials()
            except KeyError:  # not created yet
                trials = []
            # Mid-trial: owned by the process, its first fold scored, its second being fitted.
            running = [
                t
                for t in trials
                if t.state == TrialState.RUNNING
                and t.user_attrs.get("worker_pid") == process.pid
                and t.intermediate_values
            ]
            if running and any(t.state == TrialState.COMPLETE for t in trials):
                break
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        stop(process)
    study = optuna.load_study(study_name=name, storage=storage)
    [killed] = study.get_trials(states=(TrialState.RUNNING,))  # left running by the kill
    return killed


@pytest.mark.faults
@pytest.mark.slow
@pytest.mark.parametrize("storage", ["journal", "postgres"])
def test_a_search_killed_mid_trial_leaves_no_zombies_after_a_restart(
    storage: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("optuna_url") if storage == "postgres" else ""
    home, name, n_trials = tmp_path / "home", "killed-mid-trial", 3
    killed = _kill_mid_trial(home, name, n_trials, url)
    study = open_study(tuning_process.store(home, url), name, seed=0)
    best_before = study.best_trial
    client = MlflowClient(default_tracking_uri(home))
    experiment_id = setup(default_tracking_uri(home), tuning_process.EXPERIMENT, home)
    [orphan] = client.search_runs([experiment_id], "attributes.status = 'RUNNING'")
    assert orphan.data.tags[OWNER_PID_TAG] != str(os.getpid())  # the killed process's run

    # The restart: the next materialization of the same study, in a new process.
    result = tuning_process.run(home, name, n_trials, url)

    trials = {t.number: t for t in study.get_trials()}
    assert not [t for t in trials.values() if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    assert trials[killed.number].state == TrialState.FAIL
    [retry] = [t for t in trials.values() if t.system_attrs.get("failed_trial") == killed.number]
    assert retry.state in DONE and retry.params == killed.params  # tried again
    # The budget is the study's: three trials done, the killed one not counted.
    assert sum(t.state in DONE for t in trials.values()) == n_trials
    assert result.n_complete + result.n_pruned == n_trials
    # The best trial found before the kill is kept (and only beaten, never lost).
    assert trials[best_before.number].value == best_before.value
    assert result.best_cv_auc >= best_before.value

    assert client.search_runs([experiment_id], "attributes.status = 'RUNNING'") == []
    ended = client.get_run(orphan.info.run_id)
    assert ended.info.status == "KILLED"
    assert "is gone (killed mid-tuning)" in ended.data.tags[ENDED_REASON_TAG]
    assert result.orphaned_runs_ended == [orphan.info.run_id]
    # Every trial that finished has its child run, whichever process ran it.
    children = client.search_runs([experiment_id], "tags.`optuna.trial` != ''")
    logged = {int(r.data.tags["optuna.trial"]) for r in children}
    assert {n for n, t in trials.items() if t.state in DONE} <= logged


def test_orphaned_runs_are_judged_by_their_owner(tmp_path: Path) -> None:
    uri = default_tracking_uri(tmp_path)
    experiment_id = setup(uri, "owners", tmp_path)
    client = MlflowClient(uri)
    me = Owner.this_process()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()

    def run(host: str, pid: int, started: str = "") -> str:
        tags = {STUDY_TAG: "s", OWNER_HOST_TAG: host, OWNER_PID_TAG: str(pid)}
        tags[OWNER_STARTED_TAG] = started
        return client.create_run(experiment_id, tags=tags).info.run_id

    alive = run(me.host, me.pid, me.started)
    gone = run(me.host, dead.pid)
    # This pid, another start time: a process that reused the pid of a dead owner.
    reused = run(me.host, me.pid, "1")
    elsewhere = run("pod-elsewhere", 7)
    unowned = client.create_run(experiment_id, tags={STUDY_TAG: "s"}).info.run_id
    other_study = client.create_run(experiment_id, tags={STUDY_TAG: "t"}).info.run_id

    import mlflow

    mlflow.set_tracking_uri(uri)
    assert sorted(end_orphaned_runs(experiment_id, "s")) == sorted([gone, reused])
    # Runs from elsewhere are only ended past the longest a training run may run.
    later = time.time() + 5 * 3600
    assert sorted(end_orphaned_runs(experiment_id, "s", now=later)) == sorted([elsewhere, unowned])
    statuses = {r: client.get_run(r).info.status for r in (alive, other_study, gone)}
    assert statuses == {alive: "RUNNING", other_study: "RUNNING", gone: "KILLED"}


def test_a_reused_pid_does_not_keep_a_dead_trial_running(tmp_path: Path) -> None:
    # A container restarted in its pod keeps the hostname and often gets the same pid: the
    # trial its previous process left running looked owned by a live process forever.
    assert process_start(os.getpid()) == Owner.this_process().started != ""
    study = open_study(StudyStore(None, tmp_path), "reused", seed=0)
    mine, previous = study.ask(), study.ask()
    record_owner(mine)
    record_owner(previous)
    study._storage.set_trial_user_attr(previous._trial_id, OWNER_START_ATTR, "1")
    assert fail_stale_trials(study) == [previous.number]
    assert study.get_trials()[mine.number].state == TrialState.RUNNING


@pytest.fixture
def mlflow_server(tmp_path: Path):
    """A real `mlflow server` (SQLite backend) on a free port; the test may stop it early."""
    port = free_port()
    command = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", "1"]
    command += ["--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}"]
    command += ["--artifacts-destination", str(tmp_path / "server-artifacts")]
    url = f"http://127.0.0.1:{port}"
    with server_process(
        command,
        health_url=f"{url}/health",
        log_path=tmp_path / "mlflow-server.log",
        what="mlflow server",
        # Its first start migrates the SQLite schema: ~25 s here, a minute on a loaded machine.
        timeout_s=180,
        cwd=tmp_path,
    ) as process:
        yield url, process


@pytest.mark.faults
@pytest.mark.slow
def test_the_tracking_server_lost_mid_study(mlflow_server, tmp_path: Path) -> None:
    url, server = mlflow_server
    experiment_id = setup(url, "lost-server", tmp_path)
    parent = MlflowClient(url).create_run(experiment_id, run_name="tune-logreg").info.run_id
    X, y = small_problem()

    def take_the_server_away(study, trial) -> None:
        if trial.number == 1:  # after the trial's own child run was logged
            stop(server)

    result = tune(
        "logreg",
        X,
        y,
        TuningBudget(n_trials=6, timeout_s=120, cv_folds=3),
        StudyStore(None, tmp_path),
        "lost-server",
        callbacks=[take_the_server_away],
        trial_runs=TrialRuns(url, parent, experiment_id),
    )
    # The study went on to its whole budget and says what it could not log.
    assert result.n_complete + result.n_pruned == 6
    assert result.trials_not_logged == 4
    assert "ConnectionError" in result.trial_logging_error or "Max retries" in (
        result.trial_logging_error
    )
    # What was logged before the server went is there.
    store = MlflowClient(f"sqlite:///{tmp_path / 'server.db'}")
    children = store.search_runs([experiment_id], f"tags.`mlflow.parentRunId` = '{parent}'")
    assert sorted(int(r.data.tags["optuna.trial"]) for r in children) == [0, 1]


def test_trial_logging_is_best_effort_and_tried_again() -> None:
    calls: list[int] = []
    recorded: list[tuple[int, str]] = []

    def flaky(study, trial) -> None:
        calls.append(trial.number)
        if trial.number in (1, 2):
            raise OSError("disk I/O error")

    class Trial:
        def __init__(self, number: int) -> None:
            self.number = number

    logging_ = TrialLogging(lambda: flaky, lambda s, n, e: recorded.append((n, e)), retry_s=0.0)
    for number in range(4):
        logging_(None, Trial(number))
    assert calls == [0, 1, 2, 3]  # tried again at once with no retry wait
    assert logging_.failures == 2 and logging_.first_error == "OSError: disk I/O error"
    assert recorded == [(1, "OSError: disk I/O error"), (2, "OSError: disk I/O error")]
    waiting = TrialLogging(lambda: flaky, retry_s=3600)
    for number in range(4):
        waiting(None, Trial(number))
    assert waiting.failures == 3  # trial 1 failed; 2 and 3 skipped while the store is down
