"""Behavioural tests: invariance, directional expectations, slice floors."""

from __future__ import annotations

import numpy as np
import pandas as pd

from churn_assets.lib.training.behaviour import Direction, directional, invariance, slice_floors
from churn_assets.lib.training.policy import BehaviourPolicy

# The slack the behavioural_tests check allows by default.
SLACK = (BehaviourPolicy().direction_tolerance, BehaviourPolicy().max_violation_share)

FRAME = pd.DataFrame(
    {
        "customerID": [f"c{i}" for i in range(200)],
        "Contract": ["Month-to-month", "Two year"] * 100,
        "tenure": np.arange(200),
    }
)


def fair_score(frame: pd.DataFrame) -> np.ndarray:
    base = np.where(frame["Contract"] == "Two year", 0.1, 0.4)
    return base - 0.001 * frame["tenure"].to_numpy()


def leaky_score(frame: pd.DataFrame) -> np.ndarray:
    # Depends on the customer id: exactly what invariance must catch.
    return frame["customerID"].str[1:].astype(int).to_numpy() / 1000


def test_invariance() -> None:
    assert invariance(fair_score, FRAME, "customerID", 0.0).passed
    verdict = invariance(leaky_score, FRAME, "customerID", 0.0)
    assert not verdict.passed and verdict.value > 0.05
    assert invariance(fair_score, FRAME, "not_a_field", 0.0).passed


def test_directional_expectations() -> None:
    rule = Direction("Contract", "Month-to-month", "Two year", "not_increase")
    ok = directional(fair_score, FRAME, rule, *SLACK)
    assert ok.passed and ok.value == 0.0
    backwards = directional(lambda f: -fair_score(f), FRAME, rule, *SLACK)
    assert not backwards.passed and backwards.value == 1.0
    reverse_rule = Direction("Contract", "Two year", "Month-to-month", "not_decrease")
    assert directional(fair_score, FRAME, reverse_rule, *SLACK).passed
    assert directional(fair_score, FRAME, Direction("Plan", "a", "b"), *SLACK).passed


def test_slice_floors() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    informative = y + rng.normal(scale=0.3, size=200)
    verdicts = slice_floors(informative, y, FRAME, ["Contract"], min_auc=0.7, min_rows=50)
    assert len(verdicts) == 2 and all(v.passed for v in verdicts)
    noise = rng.uniform(size=200)
    assert not all(v.passed for v in slice_floors(noise, y, FRAME, ["Contract"], 0.7, 50))
    assert slice_floors(noise, y, FRAME, ["Contract"], 0.7, min_rows=500) == []
