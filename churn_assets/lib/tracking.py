"""MLflow tracking: where runs go, nested trial runs from Optuna, and model logging.

The tracking URI defaults to a SQLite database under ``CHURN_HOME/mlflow`` (MLflow 3 refuses
``file:`` stores), with artifacts beside it; an ``http(s)://`` URI of an ``mlflow server``
works unchanged. Trials are logged with ``MlflowClient`` as child runs of the family's parent
run (tag ``mlflow.parentRunId``), which works from Optuna callbacks without relying on
MLflow's thread-local active-run stack.

Trial logging is best-effort (:class:`TrialLogging`): a tracking store that fails mid-study
costs the trials' child runs, never the study, and the failures are counted. A tuning
process killed mid-search leaves its runs RUNNING; every run of a search records its owner
(:func:`owner_tags`), and the next search of the same study ends those whose owner is gone
(:func:`end_orphaned_runs`).
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.metadata
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from churn_assets.lib.contract import DataContract

# Requirements written into logged models, pinned to what is installed, with each model
# family's own (its spec's ``requirements``). Listing them is much faster than MLflow's
# inference, which loads the model in a subprocess.
_MODEL_REQUIREMENTS = ("scikit-learn", "pandas", "numpy", "scipy", "cloudpickle")

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


def default_tracking_uri(home: Path) -> str:
    """SQLite under ``home/mlflow``.

    ``MLFLOW_TRACKING_URI`` is deliberately not read here: the resource wires it in when the
    definitions load, and ``mlflow.set_tracking_uri`` writes that variable into the process
    environment, so reading it back would let one CHURN_HOME's store leak into another's.
    """
    folder = home / "mlflow"
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'mlflow.db'}"


@contextlib.contextmanager
def _init_lock(home: Path) -> Iterator[None]:
    # Two tuning steps start in parallel; the first to open a new SQLite store runs MLflow's
    # schema migrations, and two at once corrupt it. A file lock serializes the first touch.
    folder = home / "mlflow"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".init.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def setup(tracking_uri: str, experiment: str, home: Path) -> str:
    """Point MLflow at the store and return the experiment id (created if missing).

    A local store is initialised under a file lock in ``home`` (parallel steps would race on
    the SQLite schema). A tracking server needs nothing on this machine's disk: two steps
    creating the experiment at once is settled by the server (the loser reads the winner's).
    """
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    if tracking_uri.startswith(_REMOTE):
        return _get_or_create(experiment, None)
    with _init_lock(home):
        location = (home / "mlflow" / "artifacts").resolve().as_uri()
        return _get_or_create(experiment, location)


_REMOTE = ("http://", "https://", "databricks")


def _get_or_create(experiment: str, location: str | None) -> str:
    import mlflow
    from mlflow.exceptions import MlflowException

    found = mlflow.get_experiment_by_name(experiment)
    if found is not None:
        return found.experiment_id
    try:
        return mlflow.create_experiment(experiment, artifact_location=location)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
        return mlflow.get_experiment_by_name(experiment).experiment_id


def run_url(tracking_uri: str, experiment_id: str, run_id: str) -> str:
    """A link to a run in the MLflow UI (or how to open it for a local store)."""
    if tracking_uri.startswith(("http://", "https://")):
        return f"{tracking_uri.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"
    return (
        f"mlflow ui --backend-store-uri {tracking_uri}  →  experiment {experiment_id}, run {run_id}"
    )


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


def model_requirements() -> list[str]:
    """Pinned pip requirements of the installed model libraries, every registered family's
    included."""
    from churn_assets.lib.training.families import requirements

    pins = []
    for name in [*_MODEL_REQUIREMENTS, *requirements()]:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            pins.append(f"{name}=={importlib.metadata.version(name)}")
    return pins


def contract_signature(contract: DataContract, columns: list[str]) -> Any:
    """The MLflow model signature of a model taking ``columns``, derived from the contract.

    Strings for categorical fields, ``long`` for non-nullable integers, ``double`` for the
    rest (a nullable integer must accept NaN); nullable fields are optional. The output is
    the (n, 2) array of class probabilities.
    """
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema, TensorSpec

    specs = []
    for name in columns:
        info = contract.column_info(name)
        if info.kind == "categorical":
            kind = "string"
        elif info.dtype.startswith(("int", "uint")) and not info.nullable:
            kind = "long"
        else:
            kind = "double"
        specs.append(ColSpec(kind, name, required=not info.nullable))
    outputs = Schema([TensorSpec(np.dtype("float64"), (-1, 2), "probabilities")])
    return ModelSignature(inputs=Schema(specs), outputs=outputs)


def log_model(
    model: Any, input_example: pd.DataFrame, contract: DataContract, name: str = "model"
) -> Any:
    """Log a fitted model that takes contract fields, with signature and input example.

    The package's own code (the feature builder the pipeline pickles) travels with the model
    through ``code_paths``, so the model loads where ``churn_assets`` is not installed.
    """
    import mlflow

    import churn_assets

    columns = list(input_example.columns)
    signature = contract_signature(contract, columns)
    example = input_example.head(5).copy()
    for spec in signature.inputs.inputs:
        if spec.type.name == "double":
            example[spec.name] = example[spec.name].astype("float64")
    return mlflow.sklearn.log_model(
        model,
        name=name,
        signature=signature,
        input_example=example,
        serialization_format="cloudpickle",
        pyfunc_predict_fn="predict_proba",
        pip_requirements=model_requirements(),
        code_paths=[str(Path(churn_assets.__file__).parent)],
    )


def log_dataset(frame: pd.DataFrame, name: str, target: str, context: str) -> None:
    """Record a table as an MLflow dataset input of the active run."""
    import warnings

    import mlflow

    with warnings.catch_warnings():
        # The dataset's own schema is only descriptive (the model signature comes from the
        # contract), so MLflow's hint about integer columns and missing values is noise here.
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
        # (The schema is inferred lazily, when the input is logged.)
        dataset = mlflow.data.from_pandas(frame, name=name, targets=target)
        mlflow.log_input(dataset, context=context)
