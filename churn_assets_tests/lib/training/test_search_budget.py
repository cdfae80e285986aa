"""One time budget for the whole search: split by each family's previous best, a floor for
every family, the current data version's studies ignored, and ``prepare_tuning`` applying it."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from churn_assets.lib.hashing import frame_hash
from churn_assets.lib.training.budget import TuningBudget
from churn_assets.lib.training.search_budget import MIN_SHARE, previous_best, split
from churn_assets.lib.training.studies import study_storage
from churn_assets.lib.training.tuned import prepare_tuning

FOUR = ("logreg", "random_forest", "xgboost", "lightgbm")


def test_split_favours_the_promising_and_keeps_a_floor() -> None:
    even = split(400.0, dict.fromkeys(FOUR))
    assert even == pytest.approx(dict.fromkeys(FOUR, 100.0))
    seconds = split(
        400.0, {"logreg": 0.842, "random_forest": 0.839, "xgboost": 0.843, "lightgbm": 0.80}
    )
    assert sum(seconds.values()) == pytest.approx(400.0)
    assert seconds["xgboost"] > seconds["logreg"] > seconds["random_forest"] > seconds["lightgbm"]
    assert seconds["lightgbm"] == pytest.approx(400.0 * MIN_SHARE, abs=0.1)  # 0.043 behind
    # Unknown counts as level with the leader.
    assert split(100.0, {"logreg": 0.80, "xgboost": None})["xgboost"] == pytest.approx(50.0)
    with pytest.raises(ValueError, match="positive"):
        split(0.0, {"logreg": None})


def _study(storage, name: str, value: float) -> None:
    study = optuna.create_study(storage=storage, study_name=name, direction="maximize")
    study.add_trial(
        optuna.trial.create_trial(
            params={"C": 1.0},
            distributions={"C": optuna.distributions.FloatDistribution(1e-3, 1e2, log=True)},
            value=value,
        )
    )


def test_prepare_tuning_takes_its_share(tmp_path: Path, splits, prepared, contract) -> None:
    preprocessor = prepared[0]
    storage = study_storage(None, tmp_path)
    version = frame_hash(splits["train"])
    _study(storage, "churn-logreg-v1-older", 0.70)
    _study(storage, "churn-logreg-v1-old", 0.84)  # the most recent logreg study counts
    _study(storage, "churn-xgboost-v1-old", 0.80)
    _study(storage, f"churn-xgboost-v1-{version}", 0.99)  # today's, being written: ignored
    best = previous_best(storage, FOUR, version)
    assert best == {"logreg": 0.84, "random_forest": None, "xgboost": 0.80, "lightgbm": None}
    job = prepare_tuning(
        "xgboost",
        splits["train"],
        preprocessor,
        contract,
        TuningBudget(timeout_s=999.0),
        home=tmp_path,
        seed=0,
        total_budget_s=200.0,
    )
    assert job.budget.timeout_s == pytest.approx(200.0 * MIN_SHARE, rel=1e-3)
    assert job.budget_split is not None and job.budget_split["previous_best_cv_roc_auc"] == best
    plain = prepare_tuning(
        "xgboost",
        splits["train"],
        preprocessor,
        contract,
        TuningBudget(timeout_s=999.0),
        home=tmp_path,
        seed=0,
    )
    assert plain.budget.timeout_s == 999.0 and plain.budget_split is None
