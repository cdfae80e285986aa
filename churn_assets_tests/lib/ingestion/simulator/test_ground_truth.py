"""The ground-truth churn model: it produced the labels, with the documented effects."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churn_assets.lib.ingestion.simulator import (
    SimulationResult,
    churn_probability,
    expected_auc,
    expected_bayes_auc,
    list_price,
)


def _with_tech_support(frame: pd.DataFrame, value: str) -> pd.DataFrame:
    """Counterfactual rows: tech support switched, bill re-priced at the customer's factor."""
    factor = frame["MonthlyCharges"] / list_price(frame)
    other = frame.assign(TechSupport=value)
    return other.assign(MonthlyCharges=np.round(list_price(other) * factor, 2))


def test_truth_equals_churn_probability_of_the_rows(result: SimulationResult) -> None:
    recomputed = churn_probability(result.snapshots)
    np.testing.assert_allclose(recomputed, result.truth["churn_probability"], rtol=1e-12)


def test_churn_probability_has_the_documented_effects(result: SimulationResult) -> None:
    frame = result.snapshots.iloc[:2000].copy()
    base = churn_probability(frame)

    def changed(**values: object) -> np.ndarray:
        other = frame.copy()
        for column, value in values.items():
            other[column] = value
        return churn_probability(other)

    m2m_new = changed(Contract="Month-to-month", tenure=0)
    m2m_old = changed(Contract="Month-to-month", tenure=60)
    assert (m2m_new > m2m_old).all()
    two_new = changed(Contract="Two year", tenure=0)
    two_old = changed(Contract="Two year", tenure=60)
    np.testing.assert_allclose(two_new, two_old)
    assert (two_new < m2m_new).all()
    assert (changed(PaymentMethod="Electronic check") > changed(PaymentMethod="Mailed check")).all()
    assert (changed(SeniorCitizen=1) > changed(SeniorCitizen=0)).all()
    assert (changed(Partner="Yes") < changed(Partner="No")).all()
    assert (changed(Dependents="Yes") < changed(Dependents="No")).all()
    assert (changed(PaperlessBilling="Yes") > changed(PaperlessBilling="No")).all()
    expensive = frame.assign(MonthlyCharges=frame["MonthlyCharges"] * 1.1)
    assert (churn_probability(expensive) > base).all()
    fiber = frame[frame["InternetService"] == "Fiber optic"]
    assert len(fiber) > 100
    no_support = churn_probability(_with_tech_support(fiber, "No"))
    support = churn_probability(_with_tech_support(fiber, "Yes"))
    log_odds_gap = np.log(no_support / (1 - no_support)) - np.log(support / (1 - support))
    assert (log_odds_gap > 0.5).all()
    with pytest.raises(ValueError):
        churn_probability(frame, concept_shift=1.5)


def test_concept_shift_changes_the_churn_function(result: SimulationResult) -> None:
    frame = result.snapshots
    before = churn_probability(frame)
    after = churn_probability(frame, concept_shift=1.0)
    assert not np.allclose(before, after)
    assert np.abs(after - before).mean() > 0.02
    # A frozen model (scoring with the old truth) ranks measurably worse after the shift.
    assert expected_auc(before, after) < expected_bayes_auc(after) - 0.03
    assert expected_auc(before, after) < expected_bayes_auc(before) - 0.02
    # Tech support no longer protects fibre customers.
    # (with the add-on priced in, the slightly higher bill is all that is left).
    fiber = frame[frame["InternetService"] == "Fiber optic"]
    with_ts = churn_probability(_with_tech_support(fiber, "Yes"), concept_shift=1.0)
    without_ts = churn_probability(_with_tech_support(fiber, "No"), concept_shift=1.0)
    assert (with_ts >= without_ts).all()
    assert (with_ts < without_ts * 1.2).all()
