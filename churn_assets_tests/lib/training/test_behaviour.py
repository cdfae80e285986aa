"""Behavioural tests: inputs, batch invariance, invariance, directional expectations, slice
floors, and rules that cannot be judged."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churn_assets.lib.contract import DataContract
from churn_assets.lib.training.behaviour import (
    BehaviourRuleError,
    Direction,
    batch_invariance,
    check_rules,
    directional,
    inputs_are_features,
    invariance,
    slice_floors,
)
from churn_assets.lib.training.policy import BehaviourPolicy

# The slack the behavioural_tests check allows by default.
SLACK = (BehaviourPolicy().direction_tolerance, BehaviourPolicy().max_violation_share)

FRAME = pd.DataFrame(
    {
        "customerID": [f"c{i}" for i in range(200)],
        "Contract": ["Month-to-month", "Two year"] * 100,
        "tenure": np.arange(200),
        "gender": ["Female", "Male", "Male", "Female"] * 50,
    }
)


def fair_score(frame: pd.DataFrame) -> np.ndarray:
    base = np.where(frame["Contract"] == "Two year", 0.1, 0.4)
    return base - 0.001 * frame["tenure"].to_numpy()


def gendered_score(frame: pd.DataFrame) -> np.ndarray:
    return fair_score(frame) + np.where(frame["gender"] == "Male", 0.1, 0.0)


def batch_normalised_score(frame: pd.DataFrame) -> np.ndarray:
    # Standardised by the batch it arrives in: a row's score depends on its neighbours.
    tenure = frame["tenure"].to_numpy(dtype=float)
    return 1 / (1 + np.exp(-(tenure - tenure.mean()) / (tenure.std() + 1)))


def test_invariance_of_a_model_input() -> None:
    assert invariance(fair_score, FRAME, "gender", 0.0).passed
    verdict = invariance(gendered_score, FRAME, "gender", 0.02)
    assert not verdict.passed and verdict.value == pytest.approx(0.1)


def test_batch_invariance_can_fail() -> None:
    assert batch_invariance(fair_score, FRAME).passed
    verdict = batch_invariance(batch_normalised_score, FRAME)
    assert not verdict.passed and verdict.value > 0.1


def test_inputs_are_features(contract: DataContract) -> None:
    assert inputs_are_features(contract.feature_columns, contract).passed
    leaky = inputs_are_features([*contract.feature_columns, "customerID", "churn_note"], contract)
    assert not leaky.passed and leaky.value == 2
    assert "customerID (id)" in leaky.detail and "churn_note (not in the contract)" in leaky.detail


def test_directional_expectations() -> None:
    rule = Direction("Contract", "Month-to-month", "Two year", "not_increase")
    ok = directional(fair_score, FRAME, rule, *SLACK)
    assert ok.passed and ok.value == 0.0
    backwards = directional(lambda f: -fair_score(f), FRAME, rule, *SLACK)
    assert not backwards.passed and backwards.value == 1.0
    reverse_rule = Direction("Contract", "Two year", "Month-to-month", "not_decrease")
    assert directional(fair_score, FRAME, reverse_rule, *SLACK).passed


def test_a_rule_on_a_missing_field_or_value_fails_loudly() -> None:
    # These passed silently before ("Plan not in the data"): a typo switched a test off.
    with pytest.raises(BehaviourRuleError, match=r"direction_Plan_a_to_b: .*no column 'Plan'"):
        directional(fair_score, FRAME, Direction("Plan", "a", "b"), *SLACK)
    typo = Direction("Contract", "Month-to-Month", "Two year")
    with pytest.raises(BehaviourRuleError, match=r"no row has Contract = 'Month-to-Month'.*Two"):
        directional(fair_score, FRAME, typo, *SLACK)
    with pytest.raises(BehaviourRuleError, match=r"invariance_not_a_field: .*'customerID'"):
        invariance(fair_score, FRAME, "not_a_field", 0.0)


def test_rules_are_checked_against_the_contract(contract: DataContract) -> None:
    check_rules(contract, ["gender"], [Direction("Contract", "Month-to-month", "Two year")])
    with pytest.raises(BehaviourRuleError) as raised:
        check_rules(
            contract,
            ["customerID", "Gender"],
            [
                Direction("Contract", "Month-to-Month", "Two year"),
                Direction("Plan", "a", "b", expect="down"),
            ],
        )
    message = str(raised.value)
    # The id cannot be a model input, so its invariance could never fail.
    assert "invariance_customerID: 'customerID' is the contract's id, never a model input" in (
        message
    )
    assert "invariance_Gender: 'Gender' is not a column of contract" in message
    assert "direction_Contract_Month-to-Month_to_Two_year: source 'Month-to-Month' is not" in (
        message
    )
    assert "'Month-to-month', 'One year', 'Two year'" in message  # the allowed values
    assert "direction_Plan_a_to_b: 'Plan' is not a column" in message
    assert "expect is 'down'" in message
    assert "'tenure'" in message  # the feature columns are listed


def test_slice_floors() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    informative = y + rng.normal(scale=0.3, size=200)
    verdicts = slice_floors(informative, y, FRAME, ["Contract"], min_auc=0.7, min_rows=50)
    assert len(verdicts) == 2 and all(v.passed for v in verdicts)
    noise = rng.uniform(size=200)
    assert not all(v.passed for v in slice_floors(noise, y, FRAME, ["Contract"], 0.7, 50))
    assert slice_floors(noise, y, FRAME, ["Contract"], 0.7, min_rows=500) == []
    # A slice with a handful of churners is noise: not judged.
    rare = np.where(np.arange(200) < 5, 1, 0)
    assert slice_floors(noise, rare, FRAME, ["Contract"], 0.7, 50) == []
    assert slice_floors(noise, rare, FRAME, ["Contract"], 0.7, 50, min_per_class=1)
