"""The MLflow runs of a search: trial runs logged best-effort, and runs a killed process left.

Trial logging is best-effort (:class:`TrialLogging`): a tracking store that fails mid-study
costs the trials' child runs, never the study, and the failures are counted. A tuning
process killed mid-search leaves its runs RUNNING; every run of a search records its owner
(:func:`owner_tags`), and the next search of the same study ends those whose owner is gone
(:func:`end_orphaned_runs`). (Out of ``lib/tracking.py``, which keeps where runs go and how
models are logged.)
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

log = logging.getLogger(__name__)

OWNER_HOST_TAG = "churn.owner.host"
OWNER_PID_TAG = "churn.owner.pid"
OWNER_STARTED_TAG = "churn.owner.started"
ENDED_REASON_TAG = "churn.ended_reason"
STUDY_TAG = "optuna.study"
# A run whose owner ran on another host (a pod) cannot be checked from here; it is ended once
# older than the longest a training run may run (dagster/max_runtime on the training job and
# max_runtime_seconds in dagster.yaml: run monitoring fails a run past it).
ORPHAN_MAX_AGE_S = 4 * 3600
# While the tracking store fails, trial logging is tried again this often (each try costs up
# to a few seconds, see bounded_http); trials in between are counted as not logged.
TRIAL_LOG_RETRY_S = 60.0
# MLflow's HTTP client retries a refused connection 7 times with backoff (~4 minutes per
# call): right for a run's own logging, far too long to stall a search for one trial's run.
_TRIAL_HTTP = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
}


def owner_tags() -> dict[str, str]:
    """Tags naming the process that owns a run (read by :func:`end_orphaned_runs`)."""
    from churn_assets.lib.training.owners import Owner

    owner = Owner.this_process()
    return {
        OWNER_HOST_TAG: owner.host,
        OWNER_PID_TAG: str(owner.pid),
        OWNER_STARTED_TAG: owner.started,
    }


def end_orphaned_runs(
    experiment_id: str, study: str, keep: tuple[str, ...] = (), now: float | None = None
) -> list[str]:
    """End the RUNNING runs of a study whose owning process is gone; their ids.

    A run is orphaned when its owner (:func:`owner_tags`) was a process of this host that no
    longer exists (or whose pid a newer process holds), or when it is older than
    ``ORPHAN_MAX_AGE_S`` and its owner ran elsewhere or is not recorded. Each is ended as
    ``KILLED`` with a ``churn.ended_reason`` tag saying why and by whom.

    Args:
        keep: run ids never ended (the caller's own runs).
    """
    from mlflow import MlflowClient

    from churn_assets.lib.training.owners import Owner

    client = MlflowClient()
    now = time.time() if now is None else now
    me = Owner.this_process().label
    runs = client.search_runs(
        [experiment_id],
        filter_string=f"tags.`{STUDY_TAG}` = '{study}' and attributes.status = 'RUNNING'",
        max_results=1000,
    )
    ended = []
    for run in runs:
        if run.info.run_id in keep:
            continue
        tags = run.data.tags
        age_s = now - run.info.start_time / 1000
        gone = None
        if OWNER_HOST_TAG in tags and OWNER_PID_TAG in tags:
            owner = Owner(
                tags[OWNER_HOST_TAG], int(tags[OWNER_PID_TAG]), tags.get(OWNER_STARTED_TAG, "")
            )
            gone = owner.is_gone()
            who = f"its owner {owner.label}"
        else:
            who = "its owner (not recorded)"
        if gone is None and age_s > ORPHAN_MAX_AGE_S:
            reason = f"{who} is unknown to this host and the run is {age_s / 3600:.1f} h old"
        elif gone:
            reason = f"{who} is gone (killed mid-tuning)"
        else:
            continue
        client.set_tag(
            run.info.run_id,
            ENDED_REASON_TAG,
            f"{reason}; ended by {me} when study {study} was tuned again",
        )
        client.set_terminated(run.info.run_id, status="KILLED")
        ended.append(run.info.run_id)
    return ended


def trial_logger(parent_run_id: str, experiment_id: str, family: str):
    """An Optuna callback that records each finished trial as a child MLflow run."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag

    client = MlflowClient()
    owner = owner_tags()

    def callback(study: Any, trial: Any) -> None:
        run = client.create_run(
            experiment_id,
            run_name=f"{family}-trial-{trial.number:03d}",
            tags={
                "mlflow.parentRunId": parent_run_id,
                "family": family,
                STUDY_TAG: study.study_name,
                "optuna.trial": str(trial.number),
                "optuna.state": trial.state.name,
                # Killed between create_run and set_terminated, the run is found again.
                **owner,
            },
        )
        params = [Param(k, str(v)[:500]) for k, v in trial.params.items()]
        metrics = []
        stamp = int((trial.datetime_complete or trial.datetime_start).timestamp() * 1000)
        if trial.value is not None:
            metrics.append(Metric("cv_roc_auc", float(trial.value), stamp, 0))
        for step, value in sorted(trial.intermediate_values.items()):
            metrics.append(Metric("cv_roc_auc_running", float(value), stamp, int(step)))
        if trial.duration is not None:
            metrics.append(Metric("duration_s", trial.duration.total_seconds(), stamp, 0))
        client.log_batch(
            run.info.run_id,
            metrics=metrics,
            params=params,
            tags=[RunTag("pruned", str(trial.state.name == "PRUNED"))],
        )
        status = "FINISHED" if trial.state.name in ("COMPLETE", "PRUNED") else "FAILED"
        client.set_terminated(run.info.run_id, status=status)

    return callback


@contextlib.contextmanager
def bounded_http() -> Iterator[None]:
    """Few, short HTTP retries for MLflow calls that must not stall a search for minutes.

    MLflow reads these variables at every request (a user's own setting wins). They are
    process-wide while set: tuning logs from its main thread only, so nothing else is
    shortened meanwhile.
    """
    saved = {name: os.environ.get(name) for name in _TRIAL_HTTP}
    for name, value in _TRIAL_HTTP.items():
        os.environ.setdefault(name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)


class TrialLogging:
    """A best-effort Optuna callback around a trial logger: a logging error is counted and
    warned about once, and the study goes on.

    While logging fails it is tried again every ``retry_s`` seconds (the trials in between
    are not logged); once it works again a line says so.

    Args:
        make_logger: builds the trial logger at the first trial (so a helper process does not
            open a tracking store before its first trial).
        on_failure: called with (study, failures so far, first error) after each trial not
            logged (a worker records its count on the study for the leader to report).
    """

    def __init__(
        self,
        make_logger: Callable[[], Callable[[Any, Any], None]],
        on_failure: Callable[[Any, int, str], None] | None = None,
        retry_s: float = TRIAL_LOG_RETRY_S,
    ):
        self._make_logger = make_logger
        self._logger: Callable[[Any, Any], None] | None = None
        self._on_failure = on_failure
        self._retry_s = retry_s
        self._retry_at = 0.0
        self.failures = 0
        self.first_error = ""

    def __call__(self, study: Any, trial: Any) -> None:
        if time.monotonic() < self._retry_at:
            self._failed(study, trial, None)
            return
        try:
            with bounded_http():
                if self._logger is None:
                    self._logger = self._make_logger()
                self._logger(study, trial)
        except Exception as exc:  # any tracking failure: the search matters more
            self._retry_at = time.monotonic() + self._retry_s
            self._failed(study, trial, exc)
            return
        if self._retry_at:
            self._retry_at = 0.0
            log.warning("MLflow trial logging works again from trial %s", trial.number)

    def _failed(self, study: Any, trial: Any, exc: Exception | None) -> None:
        self.failures += 1
        if exc is not None and not self.first_error:
            self.first_error = f"{type(exc).__name__}: {str(exc)[:300]}"
            log.warning(
                "MLflow trial logging failed at trial %s (%s); the study goes on, and its "
                "trials are not logged while the tracking store fails (tried again every "
                "%.0f s)",
                trial.number,
                self.first_error,
                self._retry_s,
            )
        if self._on_failure is not None:
            self._on_failure(study, self.failures, self.first_error)
