"""Hyperparameter search over the model families with Optuna: tune, summarize, refit.

Each family (:mod:`churn_assets.lib.training.families`) is tuned by its own Optuna study: TPE
with a seed, cross-validated ROC-AUC on the training rows (:mod:`.objective`), intermediate
values reported after every fold so the median pruner can stop hopeless trials early, early
stopping on boosting rounds for the boosters, and a budget of trials and seconds
(:mod:`.budget`). Studies are durable and resumable (:mod:`.studies`), and several worker
processes or pods can share one search (:mod:`.worker`).

What is tuned is what is served: the estimator is fitted on the output of the fitted
preprocessing pipeline (issue #2's ``feature_preprocessor``) and the two are joined into one
sklearn ``Pipeline`` that takes the contract's raw fields.

Class imbalance is handled deliberately: each search space includes re-weighting the
minority class (``class_weight`` / ``scale_pos_weight``) as a choice, judged by ROC-AUC,
which weighting does not bias; the probabilities are then put right by calibration on the
validation set (see :mod:`churn_assets.lib.training.champion`). Resampling (SMOTE and the
like) is not used: it distorts probabilities and is a common source of leakage.
"""

from __future__ import annotations

import math
import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from churn_assets.lib.training.budget import TuningBudget
from churn_assets.lib.training.families import Family, spec
from churn_assets.lib.training.studies import StudyStore, open_study
from churn_assets.lib.training.training_data import TrainingDataError, positive_weight

if TYPE_CHECKING:
    from churn_assets.lib.training.session import TrialRuns
    from churn_assets.lib.training.warm_start import WarmStart


@dataclass
class TuningResult:
    """The outcome of one family's search."""

    family: Family
    study_name: str
    best_params: dict[str, Any]
    best_cv_auc: float
    best_trial: int
    n_complete: int
    n_pruned: int
    n_failed: int
    trials_this_run: int
    seconds: float
    final_rounds: int | None = None
    history: pd.DataFrame = field(default_factory=pd.DataFrame)
    workers: int = 1
    # This session's trials by the worker that ran them (``host:pid``).
    trials_by_worker: dict[str, int] = field(default_factory=dict)
    # This session's trials with no MLflow child run (the tracking store failed), and why.
    trials_not_logged: int = 0
    trial_logging_error: str = ""
    # Runs a killed earlier search of this study had left RUNNING, ended by this one.
    orphaned_runs_ended: list[str] = field(default_factory=list)
    # The configurations queued as the first trials (:mod:`.warm_start`): source, params.
    warm_start: list[dict[str, Any]] = field(default_factory=list)

    def top_trials(self, n: int = 10) -> pd.DataFrame:
        """The ``n`` best trials of the study (by CV ROC-AUC)."""
        return self.history.sort_values("value", ascending=False).head(n)


def tune(
    family: Family,
    X: np.ndarray,
    y: np.ndarray,
    budget: TuningBudget,
    storage: Any,
    name: str,
    seed: int = 0,
    callbacks: Sequence[Callable[[Any, Any], None]] = (),
    *,
    workers: int = 1,
    trial_runs: TrialRuns | None = None,
    warm_starts: Sequence[WarmStart] = (),
) -> TuningResult:
    """Run (or resume) one family's study until its trial budget is held or its time is up.

    This process leads the search (:mod:`.worker`): it publishes the session on the study,
    starts ``workers - 1`` helper processes, runs trials itself and waits for every running
    trial, so ``budget.n_trials`` is the study's total whatever the number of workers (and
    remote workers may join). Trials already complete or pruned in a resumed study count.

    Args:
        storage: a :class:`StudyStore` (required for ``workers > 1``: helpers open it
            themselves) or an Optuna storage.
        callbacks: run after each of this process's trials (not the helpers').
        trial_runs: the MLflow run every worker logs its trials under, as child runs. Its
            runs left RUNNING by an earlier, killed search of the study are ended first
            (:func:`~churn_assets.lib.training.trial_runs.end_orphaned_runs`), and the run is tagged
            with this process as its owner. Trial logging is best-effort: the trials it
            could not log are counted in the result.
        warm_starts: configurations queued as the first trials when the study is new
            (:func:`~churn_assets.lib.training.warm_start.find_warm_starts`); a resumed
            study queues nothing.
    """
    import socket

    from churn_assets.lib.training.worker import (
        Session,
        lead,
        local_helpers,
        not_logged,
        trial_callbacks,
    )

    if workers > 1 and not isinstance(storage, StudyStore):
        raise ValueError("tuning with several workers needs a StudyStore the helpers can open")
    from churn_assets.lib.training.warm_start import enqueue

    study = open_study(storage, name, seed)
    before = len(study.trials)
    queued = enqueue(study, list(warm_starts))
    ended = _claim_runs(trial_runs, name) if trial_runs is not None else []
    session = Session.start(family, budget, seed, trial_runs)
    session.publish(study)
    label = f"{socket.gethostname()}:{os.getpid()}"
    start = time.perf_counter()
    with local_helpers(storage, name, X, y, workers - 1, session):
        lead(study, session, X, y, label, [*trial_callbacks(session, label), *callbacks])
    seconds = time.perf_counter() - start
    result = summarize(
        study,
        family,
        name,
        trials_this_run=len(study.trials) - before,
        seconds=seconds,
        workers=workers,
        first_trial=before,
    )
    result.trials_not_logged, result.trial_logging_error = not_logged(study, session)
    result.orphaned_runs_ended = ended
    result.warm_start = [w.as_dict() for w in queued]
    return result


def _claim_runs(trial_runs: TrialRuns, name: str) -> list[str]:
    """End the study's runs a killed search left RUNNING and tag the parent run with this
    process as its owner; best-effort (a failing tracking store must not stop the search)."""
    import logging

    import mlflow

    from churn_assets.lib.training.trial_runs import (
        STUDY_TAG,
        bounded_http,
        end_orphaned_runs,
        owner_tags,
    )

    log = logging.getLogger(__name__)
    try:
        with bounded_http():
            mlflow.set_tracking_uri(trial_runs.tracking_uri)
            parent = trial_runs.parent_run_id
            ended = end_orphaned_runs(trial_runs.experiment_id, name, keep=(parent,))
            client = mlflow.MlflowClient()
            for key, value in {STUDY_TAG: name, **owner_tags()}.items():
                client.set_tag(parent, key, value)
    except Exception as exc:  # the tracking store: reported, the search goes on
        log.warning("could not end the orphaned MLflow runs of study %s: %s", name, exc)
        return []
    if ended:
        log.warning(
            "ended %d MLflow run(s) of study %s left RUNNING by a killed search: %s",
            len(ended),
            name,
            ", ".join(ended),
        )
    return ended


def summarize(
    study: Any,
    family: Family,
    name: str,
    trials_this_run: int = 0,
    seconds: float = 0.0,
    workers: int = 1,
    first_trial: int | None = None,
) -> TuningResult:
    """Collect a study's outcome (raises if no trial completed).

    Surplus trials (started by a worker after the budget was held, see :mod:`.worker`) are
    not counted as failures; ``first_trial`` (the first number of this session) limits
    ``trials_by_worker`` to the session's trials.
    """
    import optuna

    from churn_assets.lib.training.worker import SURPLUS_ATTR, WORKER_ATTR

    trials = [t for t in study.trials if not t.user_attrs.get(SURPLUS_ATTR)]
    states = [t.state for t in trials]
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        raise TrainingDataError(
            f"no {family} trial completed in study {name!r} "
            f"({states.count(optuna.trial.TrialState.FAIL)} failed): raise the time budget"
        )
    best = study.best_trial
    rounds = best.user_attrs.get("best_rounds")
    history = study.trials_dataframe(attrs=("number", "value", "state", "duration", "params"))
    history = history[history["number"].isin([t.number for t in trials])]
    by_worker = Counter(
        str(t.user_attrs.get(WORKER_ATTR, "?"))
        for t in trials
        if first_trial is not None and t.number >= first_trial
    )
    return TuningResult(
        family=family,
        study_name=name,
        best_params=dict(best.params),
        best_cv_auc=float(best.value),
        best_trial=best.number,
        n_complete=len(complete),
        n_pruned=states.count(optuna.trial.TrialState.PRUNED),
        n_failed=states.count(optuna.trial.TrialState.FAIL),
        trials_this_run=trials_this_run,
        seconds=seconds,
        final_rounds=math.ceil(float(np.median(rounds))) if rounds else None,
        history=history,
        workers=workers,
        trials_by_worker=dict(sorted(by_worker.items())),
    )


def estimator_params(result: TuningResult, positive_weight: float) -> dict[str, Any]:
    """Rebuild the estimator parameters of the best trial (fixed, not sampled)."""
    import optuna

    fixed = optuna.trial.FixedTrial(result.best_params)
    return spec(result.family).suggest_params(fixed, positive_weight)


def fit_final(
    result: TuningResult,
    preprocessor: Any,
    X_train: pd.DataFrame,
    y_train: np.ndarray,
    threads: int = 1,
    seed: int = 0,
) -> Any:
    """Refit the best configuration on all training rows and join it to the preprocessing.

    Boosters are refitted without early stopping, with the median of the best round counts
    found in cross-validation, so no held-out rows are needed. The preprocessing is already
    fitted (on the same training rows) and is not refitted.

    Returns:
        A fitted sklearn ``Pipeline`` (preprocess -> model) taking contract fields.
    """
    from sklearn.pipeline import Pipeline

    family_spec = spec(result.family)
    X = preprocessor.transform(X_train)
    params = estimator_params(result, positive_weight(y_train))
    estimator = family_spec.make_estimator(
        params, threads=threads, seed=seed, n_estimators=result.final_rounds
    )
    family_spec.fit(estimator, X, y_train)
    return Pipeline([("preprocess", preprocessor), ("model", estimator)])
