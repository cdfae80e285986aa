"""A tuning worker for the parallel-study test (`python -m churn_assets_tests.optuna_worker`).

Arguments: storage journal path, study name, number of trials, worker label, data seed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import optuna

from churn_assets.lib.training.budget import TuningBudget
from churn_assets.lib.training.objective import cv_objective
from churn_assets.lib.training.studies import open_study, study_storage


def small_problem(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A small, learnable binary problem (the same in every process for a given seed)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(400, 5))
    y = (X[:, 0] + 0.5 * X[:, 1] + rng.normal(scale=1.0, size=400) > 0.8).astype(int)
    return X, y


def main() -> None:
    home, name, trials, label = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    X, y = small_problem()
    study = open_study(study_storage(None, home), name, seed=int(sys.argv[5]))

    objective = cv_objective("logreg", X, y, TuningBudget(n_trials=trials, cv_folds=3))

    def tagged(trial: optuna.Trial) -> float:
        trial.set_user_attr("worker", label)
        return objective(trial)

    study.optimize(tagged, n_trials=trials)


if __name__ == "__main__":
    main()
