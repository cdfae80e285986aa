"""Engineered features and the feature table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from churn_assets.lib.contract import DataContract
from churn_assets.lib.features.engineering import (
    TARGET_COL,
    FeatureBuilder,
    available_features,
    build_feature_table,
    describe_features,
)
from churn_assets.lib.features.preprocessing import build_preprocessor, model_input_columns
from churn_assets.lib.ingestion.validation import validate_frame
from churn_assets_tests.datasets import SUBSCRIPTION_CONTRACT, subscription_frame


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
    out = FeatureBuilder(available_features(contract)).fit_transform(rows)
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
    # A contract that declares no features gets none (the Telco ones are Telco's declarations).
    assert available_features(other) == ()
    table = build_feature_table(validate_frame(subscription_frame(300, 2), other).valid, other)
    pipeline = build_preprocessor(other).fit(table[model_input_columns(other)])
    assert pipeline.transform(table[model_input_columns(other)]).shape[0] == len(table)


def test_describe_features_lists_what_the_contract_gets(contract: DataContract) -> None:
    described = describe_features(contract)
    assert list(described.columns) == ["feature", "kind", "output", "description"]
    assert described["feature"].tolist() == [f.name for f in available_features(contract)]
    assert described["kind"].tolist() == ["ratio", "ratio", "count", "bucket", "flag"]
