"""Model search (budgets, durable studies, data checks), champion selection, calibration and
the decision threshold. Each family end to end: ``test_families.py``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from churn_assets.lib.evaluation.scores import score_metrics
from churn_assets.lib.features.engineering import TARGET_COL
from churn_assets.lib.features.preprocessing import model_input_columns
from churn_assets.lib.training.budget import PRESETS, TuningBudget, tuning_budget
from churn_assets.lib.training.champion import (
    CostModel,
    calibrate,
    choose_threshold,
    leaderboard,
    profit_curve,
)
from churn_assets.lib.training.studies import open_study, study_storage
from churn_assets.lib.training.training_data import TrainingDataError, check_training_data
from churn_assets.lib.training.tuning import tune
from churn_assets_tests.optuna_worker import small_problem


def test_interrupted_study_resumes(tmp_path: Path) -> None:
    X, y = small_problem()
    storage = study_storage(None, tmp_path)
    budget = TuningBudget(n_trials=5, timeout_s=60, cv_folds=3)

    def interrupt_after_two(study, trial) -> None:
        if len(study.trials) == 2:
            raise KeyboardInterrupt("simulated crash")

    with pytest.raises(KeyboardInterrupt):
        tune("logreg", X, y, budget, storage, "resume-me", callbacks=[interrupt_after_two])
    # A new process (a retried materialization) opens the same durable study.
    resumed = tune("logreg", X, y, budget, study_storage(None, tmp_path), "resume-me")
    assert resumed.trials_this_run == 3
    assert resumed.n_complete + resumed.n_pruned == 5


def test_two_worker_processes_share_one_study(tmp_path: Path) -> None:
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "churn_assets_tests.optuna_worker",
                str(tmp_path),
                "shared",
                "4",
                label,
                "7",
            ],
            stderr=subprocess.PIPE,
            text=True,
        )
        for label in ("a", "b")
    ]
    for worker in workers:
        _, err = worker.communicate(timeout=180)
        assert worker.returncode == 0, err
    study = open_study(study_storage(None, tmp_path), "shared", seed=7)
    assert len(study.trials) == 8
    assert {t.user_attrs.get("worker") for t in study.trials} == {"a", "b"}
    assert len({t.number for t in study.trials}) == 8  # no trial lost or duplicated


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda X, y: (X, np.zeros_like(y)), "single class"),
        (lambda X, y: (X.head(4), np.array([0, 1, 0, 1])), "minority class"),
        (lambda X, y: (X.assign(tenure=7), y), r"\['tenure'\].*single value"),
        (lambda X, y: (X.assign(MonthlyCharges=np.nan), y), r"\['MonthlyCharges'\].*null"),
        (lambda X, y: (X, np.where(y == 1, 2, 0)), "encoded 0/1"),
        (lambda X, y: (X.head(0), y[:0]), "empty"),
    ],
)
def test_degenerate_training_data_is_explained(splits, contract, mutate, message) -> None:
    columns = model_input_columns(contract)
    X, y = mutate(splits["train"][columns], splits["train"][TARGET_COL].to_numpy())
    with pytest.raises(TrainingDataError, match=message):
        check_training_data(X, y, folds=3)


def test_threshold_maximises_profit_on_a_known_case() -> None:
    # Offers cost 1 and retain 3: a churner targeted is +2, a loyal customer targeted -1.
    y = np.array([1, 1, 0, 1, 0, 0])
    p = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    costs = CostModel(offer_cost=1, retained_value=3, success_rate=1.0)
    choice = choose_threshold(y, p, costs, objective="realised")
    assert choice.threshold == 0.6
    assert choice.realised_profit == 5.0
    assert choice.offer_rate == pytest.approx(4 / 6)
    curve = profit_curve(y, p, costs).set_index("threshold")
    assert curve.loc[0.8, "profit"] == 4.0
    assert curve.loc[1.0, "profit"] == 0.0


def test_threshold_matches_break_even_for_calibrated_scores() -> None:
    # With calibrated scores, targeting pays above p* = c / (s v) on average.
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 1, 200_000)
    y = (rng.uniform(size=p.size) < p).astype(int)
    costs = CostModel(offer_cost=30, retained_value=400, success_rate=0.25)
    choice = choose_threshold(y, np.round(p, 3), costs, objective="realised")
    assert choice.threshold == pytest.approx(costs.break_even_probability, abs=0.02)
    # The expected-profit objective lands on break-even exactly: every score above it adds
    # p*s*v - c > 0, every score below it subtracts.
    expected = choose_threshold(y, np.round(p, 3), costs)
    assert expected.threshold == pytest.approx(costs.break_even_probability, abs=0.001)


def test_expected_profit_threshold_on_a_known_case() -> None:
    # s*v = 10, c = 3: break-even at 0.3; scores 0.5 and 0.4 pay (+2, +1), 0.2 loses (-1).
    p = np.array([0.5, 0.4, 0.2, 0.1])
    costs = CostModel(offer_cost=3, retained_value=10, success_rate=1.0)
    choice = choose_threshold(np.array([1, 0, 0, 0]), p, costs)
    assert choice.threshold == 0.4
    assert choice.expected_profit == pytest.approx(3.0)
    assert choice.realised_profit == pytest.approx(10 - 6)


def test_calibration_repairs_squashed_scores() -> None:
    from sklearn.linear_model import LogisticRegression

    class Squashed(LogisticRegression):
        # Ranking intact, probabilities badly off: what calibration must fix.
        def predict_proba(self, X):
            p = super().predict_proba(X)[:, 1] ** 3
            return np.column_stack([1 - p, p])

    X, y = small_problem(3)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    model = Squashed().fit(frame.iloc[:200], y[:200])
    result = calibrate(model, frame.iloc[200:], y[200:], seed=0)
    assert result.method in ("sigmoid", "isotonic")
    table = result.table.set_index("method")
    assert table.loc[result.method, "brier"] < table.loc["none", "brier"]
    # Ranking is unchanged by a monotone calibration.
    raw = model.predict_proba(frame.iloc[200:])[:, 1]
    calibrated = result.model.predict_proba(frame.iloc[200:])[:, 1]
    assert score_metrics(y[200:], calibrated)["roc_auc"] == pytest.approx(
        score_metrics(y[200:], raw)["roc_auc"], abs=0.01
    )


def test_a_calibration_that_costs_ranking_is_not_chosen() -> None:
    from churn_assets.lib.training.champion import pick_calibration

    table = pd.DataFrame(
        {
            "method": ["none", "sigmoid", "isotonic"],
            "brier": [0.1400, 0.1330, 0.1327],
            "auc_loss": [0.0, 0.0, 0.004],  # isotonic's ties
        }
    )
    picked = pick_calibration(table, max_auc_loss=0.002)
    assert picked["method"].tolist() == ["sigmoid", "none", "isotonic"]
    assert picked.set_index("method").loc["isotonic", "eligible"] == False  # noqa: E712
    # With a looser limit the best Brier wins; "none" is always eligible.
    assert pick_calibration(table, max_auc_loss=0.01).loc[0, "method"] == "isotonic"
    worse = table.assign(auc_loss=[0.0, 0.05, 0.05])
    assert pick_calibration(worse, max_auc_loss=0.002).loc[0, "method"] == "none"


def test_a_sigmoid_keeps_the_ranking_and_isotonic_ties_cost_some() -> None:
    from churn_assets.lib.training.champion import _ranking_loss  # private: its own unit

    rng = np.random.default_rng(0)
    raw = rng.random(1000)
    y = (rng.random(1000) < raw).astype(int)
    assert _ranking_loss(y, raw, 1 / (1 + np.exp(-(3 * raw - 1))), seed=0) == pytest.approx(0)
    steps = np.floor(raw * 4) / 4  # a four-step map: ties
    assert _ranking_loss(y, raw, steps, seed=0) > 0.01


def test_leaderboard_orders_by_metric() -> None:
    scores = {"a": {"roc_auc": 0.8, "brier": 0.10}, "b": {"roc_auc": 0.85, "brier": 0.12}}
    assert leaderboard(scores, "roc_auc")["family"].tolist() == ["b", "a"]
    assert leaderboard(scores, "brier")["family"].tolist() == ["a", "b"]
    with pytest.raises(ValueError, match="unknown selection metric"):
        leaderboard(scores, "accuracy")


def test_budget_presets_take_overrides() -> None:
    budget = tuning_budget("thorough", n_trials=7, timeout_s=None)
    assert budget.n_trials == 7
    assert budget.timeout_s == PRESETS["thorough"].timeout_s  # None keeps the preset's value
    with pytest.raises(ValueError, match="unknown tuning preset"):
        tuning_budget("fast")
    with pytest.raises(TypeError):
        tuning_budget("demo", trials=3)
