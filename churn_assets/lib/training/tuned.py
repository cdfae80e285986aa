"""One family's tuned model, end to end: check and encode the training rows, run the study with
every trial as a child MLflow run, refit the best configuration, and log the model.

The caller opens the family's MLflow run (``tuned_<family>`` uses the ``MlflowTracking``
resource, which tags it with the Dagster ids) and reports progress however it likes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from churn_assets.lib.training.budget import TuningBudget
from churn_assets.lib.training.families import Family
from churn_assets.lib.training.studies import StudyStore
from churn_assets.lib.training.tuning import TuningResult

if TYPE_CHECKING:
    from churn_assets.lib.contract import DataContract

Progress = Callable[[str], None]


@dataclass
class TunedModel:
    """What a tuned-family asset stores: the fitted pipeline and how it was found."""

    family: Family
    pipeline: Any  # sklearn Pipeline: fitted preprocessing -> fitted estimator
    input_columns: list[str]
    result: TuningResult
    mlflow_run_id: str | None = None
    mlflow_model_uri: str | None = None


@dataclass(frozen=True)
class TuningJob:
    """One family's search, ready to run: the training rows checked and encoded, the study
    named after the family and the data version."""

    family: Family
    train_set: pd.DataFrame
    columns: list[str]
    preprocessor: Any  # the fitted feature preprocessing
    X: np.ndarray  # the training rows as the preprocessing encodes them
    y: np.ndarray  # their labels (0/1)
    budget: TuningBudget
    study_name: str
    storage: StudyStore
    seed: int
    workers: int = 1  # processes on the study: this one and workers - 1 helpers
    # The registered model whose @champion's parameters warm-start a new study (None: none).
    registered_model: str | None = None
    # With one budget for the whole search (:mod:`.search_budget`): every family's previous
    # best and seconds, this family's share being ``budget.timeout_s``.
    budget_split: dict[str, Any] | None = None

    @property
    def X_train(self) -> pd.DataFrame:
        """The training rows' contract fields."""
        return self.train_set[self.columns]

    def describe(self) -> str:
        """One line on what is about to run."""
        b = self.budget
        workers = f", {self.workers} workers" if self.workers > 1 else ""
        return (
            f"Tuning {self.family}: study {self.study_name!r} ({self.storage.describe()}), up "
            f"to {b.n_trials} trials / {b.timeout_s:.0f} s, {b.cv_folds}-fold CV, "
            f"{b.threads} thread(s){workers}"
        )


def prepare_tuning(
    family: Family,
    train_set: pd.DataFrame,
    preprocessor: Any,
    contract: DataContract,
    budget: TuningBudget,
    home: Path,
    storage_url: str | None = None,
    *,
    seed: int,
    workers: int = 1,
    registered_model: str | None = None,
    total_budget_s: float | None = None,
) -> TuningJob:
    """Check the training rows and set up the family's study.

    Args:
        storage_url: an Optuna RDB URL (``postgresql://`` is read as psycopg2); empty or
            ``None`` for the journal file under ``home``.
        workers: processes tuning the study at once (this one and ``workers - 1`` helpers it
            starts); each fits with ``budget.threads`` threads.
        registered_model: the MLflow registered model whose ``@champion`` warm-starts a new
            study (:mod:`.warm_start`); ``None`` for the earlier studies only.
        total_budget_s: one time budget for all families, split by how promising each was
            in its previous study (:mod:`.search_budget`); replaces ``budget.timeout_s``.

    Raises:
        TrainingDataError: when the rows cannot support fitting (the message names the family).
    """
    from churn_assets.lib.features.engineering import TARGET_COL
    from churn_assets.lib.features.preprocessing import model_input_columns
    from churn_assets.lib.hashing import frame_hash
    from churn_assets.lib.training.studies import StudyStore, study_name
    from churn_assets.lib.training.training_data import TrainingDataError, check_training_data

    columns = model_input_columns(contract)
    X_train = train_set[columns]
    y_train = train_set[TARGET_COL].to_numpy()
    try:
        check_training_data(X_train, y_train, budget.cv_folds)
    except TrainingDataError as exc:
        raise TrainingDataError(f"{family}: {exc}") from exc
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    storage = StudyStore(storage_url or None, home)
    version = frame_hash(train_set)
    budget_split = None
    if total_budget_s:
        from churn_assets.lib.training import search_budget
        from churn_assets.lib.training.families import FAMILIES

        best = search_budget.previous_best(storage.open(), FAMILIES, version)
        seconds = search_budget.split(total_budget_s, best)
        budget = dataclasses.replace(budget, timeout_s=seconds[family])
        budget_split = {
            "total_s": total_budget_s,
            "seconds": {f: round(s, 1) for f, s in seconds.items()},
            "previous_best_cv_roc_auc": best,
        }
    return TuningJob(
        family=family,
        train_set=train_set,
        columns=columns,
        preprocessor=preprocessor,
        X=preprocessor.transform(X_train),
        y=y_train,
        budget=budget,
        study_name=study_name(family, version),
        storage=storage,
        seed=seed,
        workers=workers,
        registered_model=registered_model,
        budget_split=budget_split,
    )


def run_tuning(
    job: TuningJob,
    contract: DataContract,
    run_id: str,
    experiment_id: str,
    progress: Progress | None = None,
) -> TunedModel:
    """Tune, refit and log one family into the active MLflow run ``run_id``.

    The run gets the training dataset, the budget, the best parameters, the search's metrics
    and the fitted pipeline as its model; every trial becomes a child run, logged by the
    worker that ran it (helpers and remote workers included).

    Args:
        progress: called with a line before the search and after each trial.

    Raises:
        TrainingDataError: when no trial completed within the budget.
    """
    import mlflow

    from churn_assets.lib.features.engineering import TARGET_COL
    from churn_assets.lib.tracking import log_dataset, log_model
    from churn_assets.lib.training.tuning import fit_final, tune
    from churn_assets.lib.training.warm_start import find_warm_starts
    from churn_assets.lib.training.worker import TrialRuns

    report = progress or (lambda _line: None)
    report(job.describe())
    log_dataset(job.train_set, "train_set", TARGET_COL, context="training")
    mlflow.log_params({f"budget.{k}": v for k, v in dataclasses.asdict(job.budget).items()})
    mlflow.log_params({"tuning.workers": job.workers, "optuna.storage": job.storage.describe()})
    starts = find_warm_starts(
        job.family, job.registered_model, job.storage.open(), job.study_name, report
    )
    result = tune(
        job.family,
        job.X,
        job.y,
        job.budget,
        job.storage,
        job.study_name,
        seed=job.seed,
        callbacks=[trial_progress(job, report)],
        workers=job.workers,
        trial_runs=TrialRuns(mlflow.get_tracking_uri(), run_id, experiment_id),
        warm_starts=starts,
    )
    pipeline = fit_final(result, job.preprocessor, job.X_train, job.y, job.budget.threads, job.seed)
    mlflow.log_params({f"best.{k}": v for k, v in result.best_params.items()})
    mlflow.log_metrics(
        {
            "best_cv_roc_auc": result.best_cv_auc,
            "trials_complete": result.n_complete,
            "trials_pruned": result.n_pruned,
            "trials_failed": result.n_failed,
            "trials_not_logged": result.trials_not_logged,
            "tuning_seconds": result.seconds,
        }
    )
    logged = log_model(pipeline, job.X_train, contract)
    return TunedModel(
        family=job.family,
        pipeline=pipeline,
        input_columns=job.columns,
        result=result,
        mlflow_run_id=run_id,
        mlflow_model_uri=logged.model_uri,
    )


def trial_progress(job: TuningJob, report: Progress) -> Callable[[Any, Any], None]:
    """An Optuna callback that reports each finished trial and the best value so far."""

    def callback(study: Any, trial: Any) -> None:
        values = [t.value for t in study.get_trials(deepcopy=False) if t.value is not None]
        value = "" if trial.value is None else f" cv_auc={trial.value:.4f}"
        best = f" (best {max(values):.4f})" if values else ""
        report(f"{job.family} trial {trial.number}: {trial.state.name}{value}{best}")

    return callback
