"""Fairness that fits the decision: one criterion per attribute chosen in the contract, numeric
attributes binned, small groups reported and not judged, verdicts from a bootstrap interval."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from churn_assets.lib.contract import ContractError, DataContract
from churn_assets.lib.evaluation.fairness import assess, groups_of
from churn_assets.lib.evaluation.fairness_policy import (
    FairnessContractError,
    FairnessSpec,
)
from churn_assets.lib.evaluation.model_card import fairness_table
from churn_assets.lib.evaluation.policy import FairnessPolicy
from churn_assets.lib.registry import gate

SENSITIVE = ("gender", "SeniorCitizen", "Age")


def _spec(meta) -> FairnessSpec:
    return FairnessSpec.parse(meta, "my.yaml", SENSITIVE, {"SeniorCitizen", "Age"})


def _population(n: int = 4000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Seniors churn far more often (50% vs 15%); the score is as informative in both groups
    (churners' and non-churners' scores have the same distributions), as on Telco."""
    rng = np.random.default_rng(seed)
    senior = (rng.uniform(size=n) < 0.3).astype(int)
    y = (rng.uniform(size=n) < np.where(senior == 1, 0.5, 0.15)).astype(int)
    score = np.where(y == 1, rng.beta(5, 3, n), rng.beta(2, 5, n))
    frame = pd.DataFrame(
        {
            "gender": rng.choice(["Female", "Male"], n),
            "SeniorCitizen": senior,
            "Age": rng.integers(18, 78, n),
        }
    )
    return frame, y, score


def test_a_contract_listing_names_only_is_judged_on_equal_opportunity() -> None:
    spec = _spec(None)
    rule = spec.rule("gender", FairnessPolicy())
    assert (rule.criterion, rule.limit, rule.limit_from) == ("equal_opportunity", 0.15, "config")
    assert (rule.min_group_rows, rule.min_group_positives, rule.bins) == (30, 10, 4)
    # The built-in contract declares the same choice explicitly.
    assert DataContract.load().fairness.criterion == "equal_opportunity"


def test_the_contract_chooses_criteria_and_wins_over_the_config() -> None:
    spec = _spec(
        {
            "criterion": "equalized_odds",
            "min_group_rows": 50,
            "attributes": {
                "Age": {"bands": [0, 30, 45, 60, 120]},
                "SeniorCitizen": {"criterion": "demographic_parity", "limit": 0.2},
            },
        }
    )
    config = FairnessPolicy(max_demographic_parity_difference=0.5, min_group_rows=10)
    senior, age = spec.rule("SeniorCitizen", config), spec.rule("Age", config)
    assert (senior.criterion, senior.limit, senior.limit_from) == (
        "demographic_parity",
        0.2,
        "contract",
    )
    assert (age.criterion, age.limit, age.limit_from) == ("equalized_odds", 0.20, "config")
    assert age.bands == (0, 30, 45, 60, 120) and age.min_group_rows == 50
    assert spec.rule("gender", config).min_group_positives == 10  # config fills what's open


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        ("equal_opportunity", "`fairness` must be a mapping"),
        ({"criteria": "x"}, "unknown key(s) ['criteria']; allowed: ['criterion'"),
        ({"criterion": "parity"}, "`fairness.criterion` is 'parity'; allowed: ['equal_opp"),
        ({"attributes": {"Income": {}}}, "`fairness.attributes.Income` names an attribute not"),
        (
            {"attributes": {"Age": {"criterion": "fair"}}},
            "`fairness.attributes.Age.criterion` is 'fair'; allowed: ['equal_opportunity', "
            "'demographic_parity', 'equalized_odds']",
        ),
        ({"attributes": {"Age": {"bands": [30, 10, 60]}}}, "strictly increasing"),
        ({"attributes": {"Age": {"bands": [0, 30]}}}, "at least 3 strictly increasing"),
        ({"attributes": {"gender": {"bands": [0, 1, 2]}}}, "'gender' is not numeric"),
        ({"attributes": {"Age": {"limit": 2}}}, "`fairness.attributes.Age.limit` is 2"),
        ({"attributes": {"Age": {"band": [0, 1, 2]}}}, "unknown key(s) ['band']"),
        ({"min_group_rows": 0}, "`fairness.min_group_rows` is 0; an integer of at least 1"),
        ({"attributes": {"Age": {"bins": 1}}}, "`fairness.attributes.Age.bins` is 1"),
    ],
)
def test_a_bad_fairness_mapping_names_file_key_and_allowed_values(meta, message) -> None:
    with pytest.raises(FairnessContractError, match=r"my\.yaml") as error:
        _spec(meta)
    assert message in str(error.value)


def test_the_contract_rejects_a_bad_mapping_when_it_loads() -> None:
    schema = copy.deepcopy(DataContract.load().schema)
    schema.metadata["churn_contract"]["fairness"] = {"criterion": "statistical_parity"}
    with pytest.raises(ContractError, match=r"mine\.yaml: `fairness\.criterion` is 'statistical"):
        DataContract.from_schema(schema, path="mine.yaml")


def test_numeric_attributes_are_binned_and_few_values_stay_categorical() -> None:
    frame, _, _ = _population()
    rule = _spec(None).rule("Age", FairnessPolicy())
    labels, how = groups_of(frame["Age"], rule)
    assert list(labels.categories) == ["18-32", "32-47", "47-61", "61-77"]
    assert "4 quantile bins, edges from the judged rows" in how
    banded = _spec({"attributes": {"Age": {"bands": [0, 30, 45, 60, 120]}}})
    labels, how = groups_of(
        pd.Series([18, 30, 44.9, 60, 120, 130, np.nan]), banded.rule("Age", FairnessPolicy())
    )
    assert list(labels) == ["0-30", "30-45", "30-45", "60-120", "60-120", ">120", "missing"]
    assert how == "bands from the contract: 0-30, 30-45, 45-60, 60-120"
    labels, how = groups_of(frame["SeniorCitizen"], rule)
    assert (sorted(labels.categories), how) == (["0", "1"], "values")


def test_a_numeric_attribute_no_longer_makes_one_group_per_value() -> None:
    # The second dataset: 60 ages, 2 rows each, and DP = EO = 1.0 before binning.
    frame = pd.DataFrame({"Age": np.repeat(np.arange(20, 80), 2)})
    y = np.tile([1, 0], 60)
    # Two in three churners offered, one in five others: per age, rates of 0 or 1 (1 churner).
    decision = np.where(y == 1, np.arange(120) % 3 != 0, np.arange(120) % 5 == 0)
    old_style = FairnessPolicy(min_group_rows=1, min_group_positives=1, max_categorical_values=100)
    assert (
        assess(frame, y, decision, ["Age"], old_style).summary.loc[0, "equalized_odds_difference"]
        == 1.0
    )
    policy = FairnessPolicy(min_group_rows=10, min_group_positives=5)
    summary = assess(frame, y, decision, ["Age"], policy).summary.iloc[0]
    assert summary["groups"] == 4 and summary["groups_judged"] == 4
    assert summary["passed"] and summary["equal_opportunity_difference"] < 1.0


def test_small_groups_are_reported_not_judged() -> None:
    frame, y, score = _population(n=600)
    frame["gender"] = ["Other"] * 12 + list(frame["gender"][12:])
    decision = (score >= 0.3).astype(int)
    result = assess(frame, y, decision, ["gender"], FairnessPolicy())
    groups = result.by_group.set_index("group")
    assert groups.loc["Other", "note"] == "not judged: 12 rows < 30"
    assert not groups.loc["Other", "judged"] and groups.loc["Male", "judged"]
    assert result.summary.loc[0, "not_judged"] == "Other (12 rows < 30)"
    assert "not judged: Other (12 rows < 30)" in result.summary.loc[0, "detail"]
    # Fewer than two groups left to compare: the attribute passes and says why.
    lone = assess(frame, y, decision, ["gender"], FairnessPolicy(min_group_rows=1000))
    row = lone.summary.iloc[0]
    assert row["passed"] and row["verdict"] == "not judged"
    assert "0 group(s) with at least 1000 rows and 10 churners" in row["detail"]
    assert gate.fairness(lone)[0].passed and gate.fairness(lone)[0].value == 0.0


def test_an_accurate_model_passes_equal_opportunity_where_parity_fails_it() -> None:
    frame, y, score = _population()
    decision = (score >= 0.5).astype(int)
    result = assess(frame, y, decision, ["SeniorCitizen"], FairnessPolicy())
    row = result.summary.iloc[0]
    # Seniors churn more, so an accurate model offers them more: DP is large, TPR gap small.
    assert row["demographic_parity_difference"] > 0.2
    assert row["criterion"] == "equal_opportunity" and row["passed"]
    parity = _spec({"attributes": {"SeniorCitizen": {"criterion": "demographic_parity"}}})
    judged = assess(frame, y, decision, ["SeniorCitizen"], FairnessPolicy(), parity)
    assert not judged.passed and judged.summary.loc[0, "verdict"] == "exceeds"


def test_a_rule_that_discriminates_fails_equal_opportunity() -> None:
    frame, y, score = _population()
    # Seniors need a much higher score to get an offer: their churners are found far less.
    unfair = np.where(frame["SeniorCitizen"] == 1, score >= 0.8, score >= 0.5).astype(int)
    result = assess(frame, y, unfair, ["gender", "SeniorCitizen"], FairnessPolicy())
    verdicts = {c.name: c for c in gate.fairness(result)}
    senior = verdicts["fairness_equal_opportunity_SeniorCitizen"]
    assert not senior.passed and senior.threshold == 0.15 and senior.value > 0.3
    assert "tpr by group: 0 " in senior.detail and "exceeds" in senior.detail
    assert verdicts["fairness_equal_opportunity_gender"].passed
    assert not result.passed


def test_a_gap_within_sampling_noise_fails_only_on_the_point_estimate() -> None:
    # 40 churners per group, TPR 0.75 vs 0.55: a 0.20 gap, but its interval reaches below 0.15.
    frame = pd.DataFrame({"g": ["a"] * 80 + ["b"] * 80})
    y = np.tile(np.repeat([1, 0], 40), 2)
    decision = np.concatenate([np.arange(40) < 30, np.zeros(40), np.arange(40) < 22, np.zeros(40)])
    interval = assess(frame, y, decision, ["g"], FairnessPolicy()).summary.iloc[0]
    assert interval["value"] == pytest.approx(0.20)
    assert interval["ci_low"] < 0.15 < interval["ci_high"]
    assert interval["passed"] and interval["verdict"] == "inconclusive"
    point = assess(frame, y, decision, ["g"], FairnessPolicy(judged_on="point")).summary.iloc[0]
    assert not point["passed"] and point["verdict"] == "exceeds"


def test_the_card_table_shows_criterion_verdict_and_the_other_gaps() -> None:
    frame, y, score = _population(n=600)
    frame["gender"] = ["Other"] * 12 + list(frame["gender"][12:])
    result = assess(frame, y, (score >= 0.3).astype(int), ["gender"], FairnessPolicy())
    table = fairness_table(result)
    assert list(table.columns) == [
        "attribute",
        "criterion",
        "judged value (95% CI)",
        "limit",
        "verdict",
        "passed",
        "DP difference",
        "TPR gap",
        "EO difference",
        "groups not judged",
    ]
    assert table.loc[0, "groups not judged"] == "Other (12 rows < 30)"
