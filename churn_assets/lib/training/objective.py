"""The Optuna objective: a family's cross-validated ROC-AUC on the training rows, reported
after every fold so the median pruner can stop hopeless trials early."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from churn_assets.lib.evaluation.scores import roc_auc
from churn_assets.lib.training.budget import TuningBudget
from churn_assets.lib.training.families import spec
from churn_assets.lib.training.training_data import positive_weight


def positive_class_scores(estimator: Any, X: Any) -> np.ndarray:
    """P(churn) from any fitted classifier."""
    return estimator.predict_proba(X)[:, 1]


def cv_objective(
    family: str,
    X: np.ndarray,
    y: np.ndarray,
    budget: TuningBudget,
    seed: int = 0,
    deadline: float | None = None,
) -> Callable[[Any], float]:
    """The Optuna objective: mean ROC-AUC over stratified folds, reported fold by fold.

    Boosters stop early on an inner split (15%) of each fold's training part, never on the
    fold that is scored, so the CV estimate is not flattered by early stopping.

    Args:
        deadline: a ``time.monotonic()`` value; once passed, a running trial is pruned after
            its current fold (if some trial has completed), so the budget is a real bound.
    """
    import optuna
    from sklearn.model_selection import StratifiedKFold, train_test_split

    family_spec = spec(family)
    folds = list(StratifiedKFold(budget.cv_folds, shuffle=True, random_state=seed).split(X, y))
    weight = positive_weight(y)
    boosted = family_spec.early_stopping
    if boosted:
        folds = [
            (
                *train_test_split(
                    train_idx, test_size=0.15, stratify=y[train_idx], random_state=seed + k
                ),
                valid_idx,
            )
            for k, (train_idx, valid_idx) in enumerate(folds)
        ]
    else:
        folds = [(train_idx, None, valid_idx) for train_idx, valid_idx in folds]

    def objective(trial: optuna.Trial) -> float:
        params = family_spec.suggest_params(trial, weight)
        scores: list[float] = []
        rounds: list[int] = []
        for k, (fit_idx, stop_idx, valid_idx) in enumerate(folds):
            estimator = family_spec.make_estimator(
                params,
                threads=budget.threads,
                seed=seed,
                n_estimators=budget.max_boosting_rounds if boosted else None,
                early_stopping_rounds=budget.early_stopping_rounds if boosted else None,
            )
            eval_set = (X[stop_idx], y[stop_idx]) if stop_idx is not None else None
            best = family_spec.fit(
                estimator, X[fit_idx], y[fit_idx], eval_set, budget.early_stopping_rounds
            )
            if best is not None:
                rounds.append(best)
            scores.append(roc_auc(y[valid_idx], positive_class_scores(estimator, X[valid_idx])))
            trial.report(float(np.mean(scores)), step=k)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned after fold {k + 1}: {np.mean(scores):.4f}")
            if (
                deadline is not None
                and time.monotonic() > deadline
                and k + 1 < len(folds)
                and _has_complete_trial(trial)
            ):
                raise optuna.TrialPruned(f"time budget spent after fold {k + 1}")
        if rounds:
            trial.set_user_attr("best_rounds", rounds)
        trial.set_user_attr("fold_auc", scores)
        return float(np.mean(scores))

    return objective


def _has_complete_trial(trial: Any) -> bool:
    import optuna

    return any(
        t.state == optuna.trial.TrialState.COMPLETE for t in trial.study.get_trials(deepcopy=False)
    )
