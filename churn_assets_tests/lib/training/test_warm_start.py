"""Warm start on retraining: a family's new study queues the champion's and the last study's
best parameters as its first trials; sources that are missing, broken or out of today's
search space are logged and skipped, never fatal."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from churn_assets.lib.training.budget import TuningBudget
from churn_assets.lib.training.studies import open_study, study_storage
from churn_assets.lib.training.tuning import tune
from churn_assets.lib.training.warm_start import find_warm_starts, fit_to_space
from churn_assets_tests.optuna_worker import small_problem

BUDGET = TuningBudget(n_trials=3, timeout_s=60, cv_folds=2)
MODEL = "churn-model"


def _first_trial_params(storage, name: str) -> dict:
    study = open_study(storage, name, seed=0)
    return min(study.trials, key=lambda t: t.number).params


def test_a_new_study_starts_from_the_last_studys_best(tmp_path: Path) -> None:
    X, y = small_problem()
    storage = study_storage(None, tmp_path)
    before = tune("logreg", X, y, BUDGET, storage, "churn-logreg-v1-old", seed=3)
    starts = find_warm_starts("logreg", None, storage, "churn-logreg-v1-new")
    assert [s.source for s in starts] == ["study churn-logreg-v1-old"]
    after = tune("logreg", X, y, BUDGET, storage, "churn-logreg-v1-new", warm_starts=starts)
    assert _first_trial_params(storage, "churn-logreg-v1-new") == before.best_params
    assert after.warm_start[0]["params"] == before.best_params
    assert after.n_complete + after.n_pruned == BUDGET.n_trials  # the queued trial counts
    # A resumed study queues nothing again.
    again = tune("logreg", X, y, BUDGET, storage, "churn-logreg-v1-new", warm_starts=starts)
    assert again.warm_start == []


def _register_champion(tags: dict[str, str], best: dict[str, object] | None) -> str:
    """A tuning run with ``best.*`` params (strings, as MLflow stores them), a candidate run
    with ``tags`` and a registered version of it holding ``@champion``; the tuning run id."""
    import mlflow
    from mlflow import MlflowClient

    with mlflow.start_run(run_name="tune-logreg") as tuning:
        if best:
            mlflow.log_params({f"best.{k}": v for k, v in best.items()})
    with mlflow.start_run(run_name="champion-candidate") as candidate:
        mlflow.set_tags({k: v.replace("TUNING", tuning.info.run_id) for k, v in tags.items()})
    client = MlflowClient()
    client.create_registered_model(MODEL)
    version = client.create_model_version(
        MODEL, f"runs:/{candidate.info.run_id}/model", run_id=candidate.info.run_id
    )
    client.set_registered_model_alias(MODEL, "champion", version.version)
    return tuning.info.run_id


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    return tmp_path


@pytest.mark.parametrize(
    "tags",
    [
        {"family": "logreg", "source_run_id": "TUNING"},
        # An ensemble champion names each member's tuning run.
        {"family": "ensemble", "member_run_ids": json.dumps({"logreg": "TUNING"})},
    ],
)
def test_a_new_study_starts_from_the_champions_params(registry: Path, tags) -> None:
    X, y = small_problem()
    storage = study_storage(None, registry)
    previous = tune("logreg", X, y, BUDGET, storage, "elsewhere", seed=5).best_params
    run_id = _register_champion(tags, previous)
    starts = find_warm_starts("logreg", MODEL, storage, "churn-logreg-v1-new")
    assert starts[0].source.startswith(f"champion {MODEL} v1") and run_id in starts[0].source
    tune("logreg", X, y, BUDGET, storage, "churn-logreg-v1-new", warm_starts=starts)
    # Typed back from MLflow's strings: the very same configuration.
    assert _first_trial_params(storage, "churn-logreg-v1-new") == previous


def test_bad_or_missing_sources_are_logged_and_skipped(
    registry: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="churn_assets.lib.training.warm_start")
    storage = study_storage(None, registry)
    # No registered model, no earlier study: nothing to queue, no error.
    assert find_warm_starts("xgboost", MODEL, storage, "churn-xgboost-v1-a") == []
    assert f"nothing from the champion: no {MODEL}@champion registered" in caplog.text
    assert "no earlier xgboost study" in caplog.text

    # Out of today's space: a C beyond its range, a removed choice, an unknown parameter;
    # the rest is queued.
    stale = {"regularization": "l2", "C": "1e9", "class_weight": "auto", "dual": "True"}
    _register_champion({"family": "logreg", "source_run_id": "TUNING"}, stale)
    (start,) = find_warm_starts("logreg", MODEL, storage, "churn-logreg-v1-b")
    assert start.params == {"regularization": "l2"}
    assert set(start.dropped) == {"C", "class_weight", "dual"}
    assert "C left out, '1e9' is outside today's space" in caplog.text
    X, y = small_problem()
    result = tune("logreg", X, y, BUDGET, storage, "churn-logreg-v1-b", warm_starts=[start])
    assert _first_trial_params(storage, "churn-logreg-v1-b")["regularization"] == "l2"
    assert result.n_complete == BUDGET.n_trials

    # The champion is another family.
    assert find_warm_starts("lightgbm", MODEL, storage, "churn-lightgbm-v1-c") == []
    assert "is logreg, which holds no lightgbm model" in caplog.text


def test_a_vanished_tuning_run_is_skipped(registry: Path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="churn_assets.lib.training.warm_start")
    _register_champion({"family": "logreg", "source_run_id": "no-such-run"}, None)
    storage = study_storage(None, registry)
    assert find_warm_starts("logreg", MODEL, storage, "churn-logreg-v1-d") == []
    assert "the champion skipped (MlflowException" in caplog.text


def test_fit_to_space_types_strings_as_the_space_does() -> None:
    params, dropped = fit_to_space(
        "random_forest",
        {"n_estimators": "150", "max_depth": "7.0", "min_samples_leaf": "3", "max_features": 0.4},
    )
    assert params["n_estimators"] == 150 and params["max_depth"] == 7
    assert params["max_features"] == 0.4
    assert "max_samples" in dropped  # missing: left to the sampler
    # Off the space's step: 125 is not 100 + k * 50.
    assert "n_estimators" in fit_to_space("random_forest", {"n_estimators": 125})[1]
