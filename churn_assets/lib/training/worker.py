"""Several tuning workers on one Optuna study: a shared trial budget, a shared deadline.

The process that materializes ``tuned_<family>`` leads the search (:func:`churn_assets.lib.
training.tuning.tune`): it opens the study, publishes a *session* on it (the family, the
budget, the seed, the deadline as a wall-clock time, where trials are logged in MLflow),
starts ``workers - 1`` local helper processes, runs trials itself, then waits for every
running trial before it summarizes and refits. Helpers, local or remote, read the session
from the study, so the study (Postgres on a team deployment) is the only thing they share:

- **Local helpers** are spawned processes given the encoded training rows as arguments
  (pickled through a pipe): nothing is read from a shared folder, and they open their own
  database connections.
- **Remote workers** (pods, other machines) run ``python -m churn_assets.lib.training.worker
  --family xgboost``. A pod has no disk in common with the leader, so it reads the training
  rows where Dagster's IO managers stored them (``CHURN_STORAGE_URI``, an ``s3://`` prefix on
  a team deployment: ``train_set.parquet`` and ``feature_preprocessor.joblib``), encodes
  them as the leader did, and derives the study name from the data's content hash: a worker
  holding other data finds no session and does nothing.

**The budget is the study's, not each worker's.** A trial holds a share of ``n_trials`` while
it is running, waiting (queued for retry) or finished as complete or pruned; a failed trial
frees its share. Workers stop once every share is held (the ``stop_when_budget_held`` check
runs after each trial, like Optuna's ``MaxTrialsCallback`` with running trials counted), and
because two workers can start a trial at the same moment, each trial first counts the shares
held by trials numbered before it (numbers are assigned in creation order under a row lock
by the RDB storage): one that comes too late is failed at once as a ``surplus`` (no
parameters sampled, no model fitted) and its worker stops. So N workers run exactly
``n_trials`` trials, not N times as many.

Every trial is a child MLflow run of the family's run whichever worker ran it, when the
worker can reach the tracking server: each worker logs its own trials. A trial whose worker
was killed has no child run (its worker died before logging it); its retry has one.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from churn_assets.lib.training.session import (  # noqa: F401 (re-exported for callers)
    POLL_S,
    SESSION_ATTR,
    SURPLUS_ATTR,
    WORKER_ATTR,
    Callback,
    Session,
    SurplusTrialError,
    TrialRuns,
    _quiet_surplus,
    _QuietSurplus,
    budget_left,
    not_logged,
    record_not_logged,
    shares_held_before,
)
from churn_assets.lib.training.studies import (
    StudyStore,
    fail_stale_trials,
    open_study,
    record_owner,
)

log = logging.getLogger(__name__)


def work(
    study: Any,
    session: Session,
    X: np.ndarray,
    y: np.ndarray,
    label: str,
    callbacks: Sequence[Callback] = (),
) -> int:
    """Run trials of the session in this process until the budget is held or the deadline.

    Stale trials (dead workers) are failed and queued again first. Returns how many trials
    this call started (surplus ones included).
    """
    from churn_assets.lib.training.objective import cv_objective

    budget = session.budget
    fail_stale_trials(study)
    left = session.seconds_left()
    if left <= 0 or not budget_left(study, budget.n_trials):
        return 0
    objective = cv_objective(
        session.family, X, y, budget, session.seed, deadline=time.monotonic() + left
    )
    started = 0

    def claimed(trial: Any) -> float:
        nonlocal started
        started += 1
        record_owner(trial)
        trial.set_user_attr(WORKER_ATTR, label)
        if shares_held_before(study, trial.number) >= budget.n_trials:
            trial.set_user_attr(SURPLUS_ATTR, True)
            _quiet_surplus.numbers.add(trial.number)
            log.info("trial %s not run: other workers hold the whole budget", trial.number)
            study.stop()
            raise SurplusTrialError(f"the {budget.n_trials}-trial budget is already held")
        return objective(trial)

    def stop_when_budget_held(study: Any, trial: Any) -> None:
        if not budget_left(study, budget.n_trials):
            study.stop()

    study.optimize(
        claimed,
        # No worker runs more than the whole budget, even if every trial it runs fails.
        n_trials=budget.n_trials,
        timeout=left,
        callbacks=[*(_skip_surplus(c) for c in callbacks), stop_when_budget_held],
        # A failing configuration (e.g. a solver that does not converge) is recorded as a
        # failed trial; the search goes on. A surplus trial is failed the same way.
        catch=(ValueError, ArithmeticError, SurplusTrialError),
    )
    return started


def lead(
    study: Any,
    session: Session,
    X: np.ndarray,
    y: np.ndarray,
    label: str,
    callbacks: Sequence[Callback] = (),
) -> int:
    """:func:`work`, then wait for other workers' running trials (running the retries of any
    that die) so the study is final when the leader summarizes it. Returns trials started."""
    from optuna.trial import TrialState

    started = work(study, session, X, y, label, callbacks)
    # Past the deadline a running trial is pruned after its current fold; give that time,
    # then stop waiting for a worker that hangs.
    give_up = session.deadline + max(session.budget.timeout_s, 60.0)
    while time.time() < give_up:
        pending = [TrialState.RUNNING]
        if session.seconds_left() > 0:
            pending.append(TrialState.WAITING)
        if not study.get_trials(deepcopy=False, states=tuple(pending)):
            break
        time.sleep(POLL_S)
        started += work(study, session, X, y, label, callbacks)
    return started


def trial_callbacks(session: Session, label: str) -> list[Callback]:
    """The callbacks every worker runs: a child MLflow run per trial, when configured.

    Logging is best-effort (:class:`~churn_assets.lib.training.trial_runs.TrialLogging`): a tracking
    store that fails costs trials their child runs, not the search; the worker (``label``)
    records how many on the study and the leader reports the session's total
    (:func:`~churn_assets.lib.training.session.not_logged`). The MLflow client is made at the
    first finished trial, not before: opening a tracking store (a SQLite one runs its
    migration check) would delay a helper's first trial.
    """
    if session.trial_runs is None:
        return []
    from churn_assets.lib.training.trial_runs import TrialLogging

    runs = session.trial_runs

    def make_logger() -> Callback:
        import mlflow

        from churn_assets.lib.training.trial_runs import trial_logger

        mlflow.set_tracking_uri(runs.tracking_uri)
        return trial_logger(runs.parent_run_id, runs.experiment_id, session.family)

    def record(study: Any, failures: int, error: str) -> None:
        record_not_logged(study, session, label, failures, error)

    return [TrialLogging(make_logger, on_failure=record)]


def join_study(
    store: StudyStore, name: str, index: int, wait_s: float = 0.0
) -> tuple[Any, Session]:
    """Open the study as worker ``index`` once its session is published.

    The sampler is seeded with the session's seed plus ``index``: workers with one seed would
    sample the same random start-up trials. The folds keep the session's seed.

    Raises:
        LookupError: when no session is published within ``wait_s`` seconds.
    """
    import optuna

    storage = store.open()
    give_up = time.monotonic() + wait_s
    while True:
        with contextlib.suppress(KeyError):  # the leader has not created the study yet
            session = Session.read(optuna.load_study(study_name=name, storage=storage))
            if session is not None:
                break
        if time.monotonic() >= give_up:
            raise LookupError(
                f"no tuning session on study {name!r} in {store.describe()}: start the "
                "tuned_<family> materialization that leads it (a worker holding other "
                "training data computes another study name)"
            )
        time.sleep(POLL_S)
    return open_study(storage, name, session.seed + index), session


def run_helper(store: StudyStore, name: str, X: np.ndarray, y: np.ndarray, index: int) -> int:
    """A worker joining a published session: runs trials until the budget is held; trials
    started. The body of local helper processes and of ``python -m ...worker``."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study, session = join_study(store, name, index)
    label = f"{socket.gethostname()}:{os.getpid()}"
    return work(study, session, X, y, label, trial_callbacks(session, label))


def _helper_process(store: StudyStore, name: str, X: np.ndarray, y: np.ndarray, index: int) -> None:
    # Stopped by the leader (SIGTERM): let Optuna record the running trial as failed
    # rather than leave it running until it goes stale.
    signal.signal(signal.SIGTERM, _interrupt)
    run_helper(store, name, X, y, index)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def local_helpers(
    store: StudyStore, name: str, X: np.ndarray, y: np.ndarray, count: int, session: Session
) -> Iterator[list[Any]]:
    """Start ``count`` helper processes on the study (indices 1..count); on exit, wait for
    them until the session's deadline has long passed, then stop those still running.

    They are spawned, not forked: the leader holds threads and database connections (an MLflow
    client, Optuna's heartbeat) that a forked child must not inherit.
    """
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    helpers = [
        context.Process(
            target=_helper_process,
            args=(store, name, X, y, index),
            name=f"optuna-helper-{index}",
            daemon=True,
        )
        for index in range(1, count + 1)
    ]
    for helper in helpers:
        helper.start()
    try:
        yield helpers
    except BaseException:
        for helper in helpers:
            helper.terminate()
        raise
    finally:
        give_up = session.deadline + max(session.budget.timeout_s, 60.0)
        for helper in helpers:
            helper.join(timeout=max(give_up - time.time(), 0.0))
            if helper.is_alive():
                helper.terminate()
                helper.join(timeout=10)
            if helper.exitcode:
                log.warning("tuning helper %s exited with code %s", helper.name, helper.exitcode)


def _skip_surplus(callback: Callback) -> Callback:
    """A callback that ignores surplus trials (bookkeeping, not part of the search)."""

    def wrapped(study: Any, trial: Any) -> None:
        if not trial.user_attrs.get(SURPLUS_ATTR):
            callback(study, trial)

    return wrapped


def load_training_rows(
    data_uri: str, contract_path: str | None
) -> tuple[Any, np.ndarray, np.ndarray]:
    """The training rows where the IO managers stored them, encoded as the leader encodes them.

    Returns:
        ``train_set`` (the table, for its content hash), the encoded rows and the labels.
    """
    import joblib
    import pandas as pd
    from upath import UPath

    from churn_assets.lib.contract import DataContract
    from churn_assets.lib.features.engineering import TARGET_COL
    from churn_assets.lib.features.preprocessing import model_input_columns

    base = UPath(data_uri)
    with (base / "train_set.parquet").open("rb") as f:
        train_set = pd.read_parquet(f)
    with (base / "feature_preprocessor.joblib").open("rb") as f:
        preprocessor = joblib.load(f)
    columns = model_input_columns(DataContract.load(contract_path))
    return (
        train_set,
        preprocessor.transform(train_set[columns]),
        train_set[TARGET_COL].to_numpy(),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m churn_assets.lib.training.worker --family F``: join the family's search.

    Prints one JSON line (study, worker, trials started). Exit code 0 when the worker ran or
    found the budget already held, 3 when no session was published within ``--wait-s``.
    """
    from churn_assets.lib import settings
    from churn_assets.lib.hashing import frame_hash
    from churn_assets.lib.training.studies import study_name

    parser = argparse.ArgumentParser(prog="python -m churn_assets.lib.training.worker")
    parser.add_argument("--family", required=True)
    parser.add_argument(
        "--storage",
        default=os.environ.get("CHURN_OPTUNA_STORAGE", ""),
        help="Optuna RDB URL (default $CHURN_OPTUNA_STORAGE; empty: the journal under "
        "CHURN_HOME, one machine only)",
    )
    parser.add_argument(
        "--data",
        default=None,
        help="where the IO managers store assets (default $CHURN_STORAGE_URI)",
    )
    parser.add_argument("--contract", default=None, help="default $CHURN_CONTRACT, else built-in")
    parser.add_argument("--study", default=None, help="check the data matches this study")
    parser.add_argument(
        "--index",
        type=int,
        # A Kubernetes Indexed Job numbers its pods 0..N-1; the leader is index 0.
        default=int(os.environ.get("JOB_COMPLETION_INDEX", "0")) + 1,
        help="this worker's number (seeds its sampler; default $JOB_COMPLETION_INDEX + 1)",
    )
    parser.add_argument("--wait-s", type=float, default=300.0, help="wait for the session")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    train_set, X, y = load_training_rows(args.data or settings.storage_uri(), args.contract)
    name = study_name(args.family, frame_hash(train_set))
    if args.study and args.study != name:
        log.error("the stored training rows belong to study %s, not %s", name, args.study)
        return 2
    store = StudyStore(args.storage or None, settings.churn_home())
    try:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study, session = join_study(store, name, args.index, args.wait_s)
    except LookupError as exc:
        log.error("%s", exc)
        return 3
    label = f"{socket.gethostname()}:{os.getpid()}"
    started = work(study, session, X, y, label, trial_callbacks(session, label))
    sys.stdout.write(json.dumps({"study": name, "worker": label, "trials_started": started}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
