"""Several tuning workers on one study in a real Postgres (pgserver), the way pods share one:
the shared trial budget, a killed worker's trial failed and retried, the pod entry point
reading its rows from a bucket, and the URL rewrite."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from churn_assets.lib.training.budget import TuningBudget
from churn_assets.lib.training.studies import (
    StudyStore,
    fail_stale_trials,
    open_study,
    rdb_url,
    record_owner,
)
from churn_assets.lib.training.tuning import tune
from churn_assets.lib.training.worker import (
    SURPLUS_ATTR,
    WORKER_ATTR,
    Session,
    TrialRuns,
    budget_left,
    run_helper,
    shares_held_before,
    work,
)

DONE = (TrialState.COMPLETE, TrialState.PRUNED)


def problem(rows: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A learnable binary problem. Random forests of 100-400 trees take about a second per
    trial on a few hundred rows (an idle machine), long enough for two workers to overlap
    and for a kill to land mid-trial."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, 5))
    y = (X[:, 0] + 0.5 * X[:, 1] + rng.normal(size=rows) > 0.8).astype(int)
    return X, y


def counted(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """The trials that used the budget (not the bookkeeping surplus ones)."""
    return [t for t in study.trials if not t.user_attrs.get(SURPLUS_ATTR)]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u:p@db:5432/optuna", "postgresql+psycopg2://u:p@db:5432/optuna"),
        ("postgres://u@db/optuna", "postgresql+psycopg2://u@db/optuna"),
        ("postgresql+psycopg2://u@db/optuna", "postgresql+psycopg2://u@db/optuna"),
        ("postgresql+psycopg://u@db/optuna", "postgresql+psycopg://u@db/optuna"),
        ("sqlite:////tmp/optuna.db", "sqlite:////tmp/optuna.db"),
    ],
)
def test_rdb_url_names_the_psycopg2_driver(url: str, expected: str) -> None:
    assert rdb_url(url) == expected


def test_a_bare_postgresql_url_opens_with_heartbeats(optuna_url: str, tmp_path: Path) -> None:
    # SQLAlchemy 2.1 reads postgresql:// as psycopg 3, which is not installed: without the
    # rewrite Optuna raises "Failed to import DB access module".
    bare = optuna_url.replace("postgresql+psycopg2://", "postgresql://")
    storage = StudyStore(bare, tmp_path).open()
    assert storage.url.startswith("postgresql+psycopg2://")
    assert storage.get_heartbeat_interval() is not None
    study = open_study(storage, "bare-url", seed=0)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    assert len(study.trials) == 2


def _run_worker(store: StudyStore, name: str, rows: int) -> None:
    """A tuning worker in its own process (the body of a pod), given its rows as arguments."""
    X, y = problem(rows)
    run_helper(store, name, X, y, index=os.getpid())


def _spawn_workers(store: StudyStore, name: str, rows: int, count: int) -> list:
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_run_worker, args=(store, name, rows)) for _ in range(count)]
    for worker in workers:
        worker.start()
    return workers


def test_two_workers_share_one_trial_budget(optuna_url: str, tmp_path: Path) -> None:
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = mlflow.create_experiment("parallel")
    parent = mlflow.MlflowClient().create_run(experiment).info.run_id
    store = StudyStore(optuna_url, tmp_path)
    budget = TuningBudget(n_trials=6, timeout_s=120, cv_folds=2)
    runs = TrialRuns(mlflow.get_tracking_uri(), parent, experiment)
    Session.start("random_forest", budget, seed=3, trial_runs=runs).publish(
        open_study(store, "shared", seed=3)
    )
    # Two worker processes started together, as two pods would be.
    workers = _spawn_workers(store, "shared", 200, 2)
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0

    study = optuna.load_study(study_name="shared", storage=rdb_url(optuna_url))
    trials = counted(study)
    # The budget is the study's: 6 trials in all, not 6 per worker, none left running.
    assert len(trials) == budget.n_trials
    assert all(t.state in DONE for t in trials)
    # Both processes ran trials, and no trial number was handed out twice.
    assert len({t.user_attrs[WORKER_ATTR] for t in trials}) == 2
    assert len({t.number for t in study.trials}) == len(study.trials)
    # Every counted trial is a child run of the family's run, whichever worker logged it.
    children = mlflow.search_runs(
        [experiment], filter_string=f"tags.mlflow.parentRunId = '{parent}'"
    )
    assert sorted(children["tags.optuna.trial"].astype(int)) == [t.number for t in trials]


def test_tune_with_a_helper_process_keeps_the_budget(optuna_url: str, tmp_path: Path) -> None:
    # What the asset runs: this process leads, one spawned helper joins. The search is short,
    # so the helper (a few seconds of imports) may find the budget held: either way the
    # study ends with exactly n_trials and the leader has waited for the helper.
    X, y = problem(200)
    budget = TuningBudget(n_trials=4, timeout_s=60, cv_folds=3)
    store = StudyStore(optuna_url, tmp_path)
    result = tune("logreg", X, y, budget, store, "led", seed=0, workers=2)

    study = optuna.load_study(study_name="led", storage=rdb_url(optuna_url))
    assert len(counted(study)) == budget.n_trials
    assert result.n_complete + result.n_pruned == budget.n_trials
    assert sum(result.trials_by_worker.values()) == budget.n_trials
    assert not study.get_trials(states=(TrialState.RUNNING, TrialState.WAITING))
    assert not multiprocessing.active_children()


def test_a_killed_workers_trial_is_failed_and_retried(optuna_url: str, tmp_path: Path) -> None:
    # Heartbeats every second, stale after two: the production values (10 s / 60 s) are the
    # same mechanism, slower.
    store = StudyStore(optuna_url, tmp_path, heartbeat_interval=1, grace_period=2)
    budget = TuningBudget(n_trials=1, timeout_s=120, cv_folds=2)
    study = open_study(store, "killed", seed=0)
    Session.start("random_forest", budget, seed=0).publish(study)

    [worker] = _spawn_workers(store, "killed", 800, 1)
    try:
        deadline = time.monotonic() + 60
        while not study.get_trials(states=(TrialState.RUNNING,)):
            assert time.monotonic() < deadline, "the worker never started a trial"
            assert worker.is_alive(), "the worker exited before starting a trial"
            time.sleep(0.1)
        time.sleep(0.5)  # into the first fold's fit; heartbeats recorded
        os.kill(worker.pid, signal.SIGKILL)
    finally:
        worker.join(10)
    [killed] = study.get_trials(states=(TrialState.RUNNING,))
    assert killed.user_attrs["worker_pid"] == worker.pid  # left running by the kill
    # Make it a pod's trial: owned by another host, so this host cannot see that its process
    # is gone and only the missing heartbeats tell.
    study._storage.set_trial_user_attr(killed._trial_id, "worker_host", "pod-elsewhere")

    time.sleep(3)  # past the grace period: the heartbeat is stale
    X, y = problem(800)
    ran = work(open_study(store, "killed", seed=1), Session.read(study), X, y, "next")

    trials = {t.number: t for t in study.get_trials()}
    assert trials[killed.number].state == TrialState.FAIL
    [retry] = [t for t in trials.values() if t.system_attrs.get("failed_trial") == killed.number]
    assert retry.state in DONE
    assert retry.params == killed.params  # the same configuration, tried again
    assert retry.user_attrs[WORKER_ATTR] == "next"
    # The retry took the killed trial's share: the one-trial budget is still one trial.
    assert ran == 1
    assert [t.number for t in trials.values() if t.state in DONE] == [retry.number]


def test_an_unowned_running_trial_is_failed_once_old(
    optuna_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Optuna never fails a running trial without a heartbeat row: one left by a version
    # without heartbeats, or by a worker killed before it recorded itself, would hold a share
    # of every later budget.
    from churn_assets.lib.training import studies

    study = open_study(StudyStore(optuna_url, tmp_path), "unowned", seed=0)
    with pytest.warns(UserWarning, match="Heartbeat"):  # asked outside study.optimize
        legacy = study.ask()
        owned = study.ask()
    record_owner(owned)
    assert fail_stale_trials(study) == []  # too young to judge
    monkeypatch.setattr(studies, "UNOWNED_GRACE_S", 0)
    assert fail_stale_trials(study) == [legacy.number]
    states = {t.number: t.state for t in study.get_trials()}
    # The owned one is judged by heartbeats alone (it has none yet: it is not failed).
    assert states[owned.number] == TrialState.RUNNING
    assert len(study.get_trials(states=(TrialState.WAITING,))) == 1  # the retry


def test_journal_fails_a_dead_processes_trial(tmp_path: Path) -> None:
    # The journal has no heartbeat (Optuna 5.0): the owner's pid tells a dead worker.
    store = StudyStore(None, tmp_path)
    study = open_study(store, "journal", seed=0)
    Session.start("random_forest", TuningBudget(n_trials=2, timeout_s=120), seed=0).publish(study)
    [worker] = _spawn_workers(store, "journal", 800, 1)
    try:
        deadline = time.monotonic() + 60
        while not [
            t
            for t in study.get_trials(states=(TrialState.RUNNING,))
            if "worker_pid" in t.user_attrs
        ]:
            assert time.monotonic() < deadline, "the worker never started a trial"
            time.sleep(0.1)
        mine = study.ask()  # a live process's running trial must be left alone
        record_owner(mine)
        os.kill(worker.pid, signal.SIGKILL)
    finally:
        worker.join(10)
    [dead] = [t for t in study.get_trials(states=(TrialState.RUNNING,)) if t.number != mine.number]

    assert fail_stale_trials(study) == [dead.number]
    states = {t.number: t.state for t in study.get_trials()}
    assert states[dead.number] == TrialState.FAIL
    assert states[mine.number] == TrialState.RUNNING
    [retry] = study.get_trials(states=(TrialState.WAITING,))
    assert retry.system_attrs["failed_trial"] == dead.number
    assert "worker_pid" not in retry.user_attrs  # whoever runs it records itself
    assert fail_stale_trials(study) == []


def test_budget_shares(tmp_path: Path) -> None:
    study = open_study(StudyStore(None, tmp_path), "shares", seed=0)
    dist = {"x": optuna.distributions.FloatDistribution(0, 1)}
    for state, value in (
        (TrialState.COMPLETE, 0.5),
        (TrialState.PRUNED, None),
        (TrialState.FAIL, None),
    ):
        study.add_trial(
            optuna.trial.create_trial(
                state=state, params={"x": 0.5}, distributions=dist, value=value
            )
        )
    running = study.ask()
    record_owner(running)
    # Held: complete, pruned and running (3); a failed trial frees its share.
    assert shares_held_before(study, running.number + 1) == 3
    assert budget_left(study, 4)
    assert not budget_left(study, 3)
    # A worker joining a study whose budget is held by running trials runs nothing.
    session = Session.start("logreg", TuningBudget(n_trials=3, timeout_s=60), seed=0)
    X, y = problem(200)
    assert work(study, session, X, y, "late") == 0
    assert len(study.trials) == 4
    # A queued retry is work even when every share is held.
    study.enqueue_trial({"x": 0.1})
    assert budget_left(study, 3)


@pytest.fixture
def bucket(s3_env: str) -> str:
    """An empty bucket on the moto S3 server, reachable through the AWS variables only."""
    import boto3

    boto3.client("s3", endpoint_url=s3_env).create_bucket(Bucket="assets")
    return "s3://assets/churn"


@pytest.mark.slow
def test_a_pod_worker_reads_its_rows_from_the_bucket(
    bucket: str, optuna_url: str, splits, prepared, tmp_path: Path
) -> None:
    import joblib
    from upath import UPath

    from churn_assets.lib.hashing import frame_hash
    from churn_assets.lib.training.studies import study_name

    # What the IO managers leave in the bucket: the training table and the fitted
    # preprocessing. The pod shares nothing else with the leader but the study.
    base = UPath(bucket)
    with (base / "train_set.parquet").open("wb") as f:
        splits["train"].to_parquet(f, index=False)
    with (base / "feature_preprocessor.joblib").open("wb") as f:
        joblib.dump(prepared[0], f)
    name = study_name("logreg", frame_hash(splits["train"]))
    budget = TuningBudget(n_trials=4, timeout_s=120, cv_folds=3)
    study = open_study(StudyStore(optuna_url, tmp_path), name, seed=0)
    Session.start("logreg", budget, seed=0).publish(study)

    bare = optuna_url.replace("postgresql+psycopg2://", "postgresql://")
    command = [sys.executable, "-m", "churn_assets.lib.training.worker", "--family", "logreg"]
    env = {**os.environ, "CHURN_STORAGE_URI": bucket, "CHURN_OPTUNA_STORAGE": bare}
    env["CHURN_HOME"] = str(tmp_path / "pod-home")  # a pod's private disk, empty
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["study"] == name

    trials = counted(study)
    assert len(trials) == budget.n_trials
    assert all(t.state in DONE for t in trials)
    assert {t.user_attrs[WORKER_ATTR] for t in trials} == {report["worker"]}
    # A worker whose rows are not the study's finds no session and says so.
    wrong = subprocess.run(
        [*command, "--study", "churn-logreg-v1-other"], env=env, capture_output=True, text=True
    )
    assert wrong.returncode == 2
    assert name in wrong.stderr
