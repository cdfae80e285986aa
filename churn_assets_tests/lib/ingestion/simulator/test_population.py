"""The simulated customers: consistent profiles and bills, Telco-like marginals."""

from __future__ import annotations

import numpy as np
import pytest

from churn_assets.lib.features.telco import ADD_ONS
from churn_assets.lib.ingestion.simulator import (
    SimulationResult,
    list_price,
)


def test_values_are_consistent(result: SimulationResult) -> None:
    frame = result.snapshots
    no_phone = frame["PhoneService"] == "No"
    assert ((frame["MultipleLines"] == "No phone service") == no_phone).all()
    no_internet = frame["InternetService"] == "No"
    for name in ADD_ONS:
        assert ((frame[name] == "No internet service") == no_internet).all(), name
    # Like the real data: customers without a phone line all have DSL.
    assert (frame.loc[no_phone, "InternetService"] == "DSL").all()
    charges = frame["MonthlyCharges"].to_numpy()
    assert np.allclose(charges * 100, np.round(charges * 100), atol=1e-6)
    assert charges.min() >= 15.0 and charges.max() <= 135.0
    ratio = charges / list_price(frame)
    assert ratio.min() >= 0.85 and ratio.max() <= 1.17
    assert (frame["TotalCharges"].isna() == (frame["tenure"] == 0)).all()
    # Customers who joined during the simulation have been billed exactly once at tenure 1
    # (month-0 histories carry a small jitter for past price changes).
    first = (frame["tenure"] == 1) & (frame["snapshot_month"] > frame["snapshot_month"].min())
    assert first.sum() > 100
    assert np.allclose(frame.loc[first, "TotalCharges"], frame.loc[first, "MonthlyCharges"])
    month0 = frame[frame["snapshot_month"] == frame["snapshot_month"].min()]
    assert month0["tenure"].between(0, 72).all()
    assert month0["tenure"].max() >= 60


def test_month_zero_marginals_look_like_telco(default_result: SimulationResult) -> None:
    frame = default_result.snapshots
    month0 = frame[frame["snapshot_month"] == frame["snapshot_month"].min()]

    def share(column: str, value: str) -> float:
        return float((month0[column] == value).mean())

    assert share("Contract", "Month-to-month") == pytest.approx(0.55, abs=0.03)
    assert share("Contract", "One year") == pytest.approx(0.21, abs=0.03)
    assert share("Contract", "Two year") == pytest.approx(0.24, abs=0.03)
    assert share("InternetService", "Fiber optic") == pytest.approx(0.44, abs=0.03)
    assert share("InternetService", "DSL") == pytest.approx(0.34, abs=0.03)
    assert share("InternetService", "No") == pytest.approx(0.22, abs=0.03)
    assert share("PaymentMethod", "Electronic check") == pytest.approx(0.34, abs=0.03)
    assert 55 <= month0["MonthlyCharges"].mean() <= 75
