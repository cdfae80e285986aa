"""A tuning process as ``tuned_<family>`` runs one, for the fault tests: an MLflow parent run
owned by this process, and one family's study tuned under it with a child run per trial.

``python -m churn_assets_tests.lib.training.tuning_process HOME STUDY N_TRIALS [STORAGE_URL]``
(the journal under HOME without a URL; MLflow in SQLite under HOME).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from churn_assets.lib.training.tuning import TuningResult

EXPERIMENT = "fault-tests"
FAMILY = "random_forest"


def problem(rows: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A learnable binary problem on which a forest trial takes about a second (idle machine)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, 5))
    y = (X[:, 0] + 0.5 * X[:, 1] + rng.normal(size=rows) > 0.8).astype(int)
    return X, y


def store(home: Path, url: str = ""):
    """The study's storage; heartbeats every second, stale after two (RDB only)."""
    from churn_assets.lib.training.studies import StudyStore

    return StudyStore(url or None, home, heartbeat_interval=1, grace_period=2)


def run(home: Path, name: str, n_trials: int, url: str = "") -> TuningResult:
    """Tune ``name`` under a new parent run, as the tuned_<family> asset does."""
    import mlflow
    import optuna

    from churn_assets.lib.tracking import default_tracking_uri, setup
    from churn_assets.lib.training.budget import TuningBudget
    from churn_assets.lib.training.session import TrialRuns
    from churn_assets.lib.training.trial_runs import STUDY_TAG, owner_tags
    from churn_assets.lib.training.tuning import tune

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    uri = default_tracking_uri(home)
    experiment_id = setup(uri, EXPERIMENT, home)
    X, y = problem()
    budget = TuningBudget(n_trials=n_trials, timeout_s=300, cv_folds=2)
    tags = {STUDY_TAG: name, **owner_tags()}
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"tune-{FAMILY}", tags=tags) as r:
        runs = TrialRuns(uri, r.info.run_id, experiment_id)
        return tune(FAMILY, X, y, budget, store(home, url), name, seed=0, trial_runs=runs)


if __name__ == "__main__":
    run(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4] if len(sys.argv) > 4 else "")
