"""Engineered features, the preprocessing pipeline and the split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from churn_assets.lib.contract import DataContract
from churn_assets.lib.features.engineering import (
    TARGET_COL,
    FeatureBuilder,
    available_features,
    build_feature_table,
    build_preprocessor,
    model_input_columns,
    split_frame,
)
from churn_assets.lib.ingestion.simulator import SimulatorConfig, simulate
from churn_assets.lib.ingestion.validation import validate_frame
from churn_assets_tests.datasets import SUBSCRIPTION_CONTRACT, subscription_frame


@pytest.fixture(scope="module")
def table(contract: DataContract) -> pd.DataFrame:
    frame = simulate(SimulatorConfig(n_customers=1500, months=4, seed=11)).snapshots
    return build_feature_table(validate_frame(frame, contract).valid, contract)


def test_engineered_feature_values(contract: DataContract) -> None:
    rows = pd.DataFrame(
        {
            "tenure": [0, 10],
            "MonthlyCharges": [50.0, 60.0],
            "TotalCharges": [0.0, 500.0],
            "PhoneService": ["Yes", "No"],
            "InternetService": ["Fiber optic", "No"],
            "OnlineSecurity": ["Yes", "No internet service"],
            "OnlineBackup": ["No", "No internet service"],
            "DeviceProtection": ["Yes", "No internet service"],
            "TechSupport": ["No", "No internet service"],
            "StreamingTV": ["Yes", "No internet service"],
            "StreamingMovies": ["No", "No internet service"],
            "PaymentMethod": ["Bank transfer (automatic)", "Electronic check"],
        }
    )
    names = tuple(f.name for f in available_features(contract))
    out = FeatureBuilder(names).fit_transform(rows)
    assert out["avg_monthly_spend"].tolist() == [0.0, 50.0]
    assert out["price_change_ratio"].tolist() == [1.0, 1.2]
    assert out["service_count"].tolist() == [5.0, 0.0]
    assert out["tenure_band"].tolist() == ["0-6", "7-12"]
    assert out["auto_payment"].tolist() == ["Yes", "No"]


def test_feature_table_layout(table: pd.DataFrame, contract: DataContract) -> None:
    assert list(table.columns[:2]) == ["customerID", "snapshot_month"]
    assert "Churn" not in table
    assert set(table[TARGET_COL].unique()) == {0, 1}
    assert {f.name for f in available_features(contract)} <= set(table.columns)


def test_engineered_features_follow_the_contract(tmp_path: Path) -> None:
    path = tmp_path / "subs.yaml"
    path.write_text(SUBSCRIPTION_CONTRACT)
    other = DataContract.load(path)
    # None of the Telco formulas apply to a dataset without their inputs.
    assert available_features(other) == []
    table = build_feature_table(validate_frame(subscription_frame(300, 2), other).valid, other)
    pipeline = build_preprocessor(other).fit(table[model_input_columns(other)])
    assert pipeline.transform(table[model_input_columns(other)]).shape[0] == len(table)


def test_stratified_split_by_customer(table: pd.DataFrame, contract: DataContract) -> None:
    parts = split_frame(table, contract, seed=1)
    assert sum(len(p) for p in parts.values()) == len(table)
    ids = {name: set(p["customerID"]) for name, p in parts.items()}
    assert not ids["train"] & ids["test"]
    assert not ids["train"] & ids["validation"]
    assert not ids["validation"] & ids["test"]
    rates = [p[TARGET_COL].mean() for p in parts.values()]
    assert max(rates) - min(rates) < 0.03
    assert len(parts["test"]) / len(table) == pytest.approx(0.2, abs=0.03)
    again = split_frame(table, contract, seed=1)
    pd.testing.assert_frame_equal(parts["test"], again["test"])


def test_time_split(table: pd.DataFrame, contract: DataContract) -> None:
    parts = split_frame(table, contract, strategy="time")
    months = sorted(table["snapshot_month"].unique())
    assert set(parts["test"]["snapshot_month"]) == {months[-1]}
    assert set(parts["validation"]["snapshot_month"]) == {months[-2]}
    assert parts["train"]["snapshot_month"].max() < months[-2]


@pytest.mark.parametrize(
    ("mutate", "kwargs", "message"),
    [
        (lambda t: t.assign(_target=0), {}, "same label"),
        (lambda t: t, {"test_size": 0.6, "validation_size": 0.5}, "leave rows"),
        (lambda t: t.drop(columns="snapshot_month"), {"strategy": "time"}, "snapshot column"),
        (
            lambda t: t[t["snapshot_month"] == t["snapshot_month"].min()],
            {"strategy": "time"},
            "at least 3",
        ),
        (lambda t: t, {"strategy": "random"}, "unknown split strategy"),
    ],
)
def test_split_errors_are_clear(
    table: pd.DataFrame, contract: DataContract, mutate, kwargs, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        split_frame(mutate(table), contract, **kwargs)


def test_preprocessor_learns_from_training_rows_only(
    table: pd.DataFrame, contract: DataContract
) -> None:
    parts = split_frame(table, contract)
    columns = model_input_columns(contract)
    train = parts["train"][columns].copy()
    pipeline = build_preprocessor(contract).fit(train)
    scaler = pipeline.named_steps["encode"].named_transformers_["numeric"].named_steps["scale"]
    numeric = pipeline.named_steps["encode"].transformers_[0][2]
    engineered = pipeline.named_steps["engineer"].transform(train)
    np.testing.assert_allclose(scaler.mean_, engineered[numeric].astype(float).mean().to_numpy())
    # Unknown categories at serving time are ignored, not an error.
    odd = parts["test"][columns].head(3).assign(Contract="Lifetime")
    assert pipeline.transform(odd).shape == (3, len(pipeline.get_feature_names_out()))
    # Raw contract fields in, numbers out: the same pipeline serves requests later.
    assert np.isfinite(pipeline.transform(parts["test"][columns])).all()
