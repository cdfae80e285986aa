"""SHAP explanations per contract field: additivity, field mapping, top reasons."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churn_assets.lib.contract import DataContract
from churn_assets.lib.evaluation.explain import FieldExplainer, encoded_sources, global_importance
from churn_assets.lib.features.engineering import TARGET_COL, build_feature_table
from churn_assets.lib.features.preprocessing import build_preprocessor, model_input_columns
from churn_assets.lib.features.split import split_frame
from churn_assets.lib.ingestion.simulator import SimulatorConfig, simulate
from churn_assets.lib.ingestion.validation import validate_frame
from churn_assets.lib.training.families import spec


@pytest.fixture(scope="module")
def data(contract: DataContract):
    frame = simulate(SimulatorConfig(n_customers=800, months=2, seed=8)).snapshots
    table = build_feature_table(validate_frame(frame, contract).valid, contract)
    parts = split_frame(table, contract)
    columns = model_input_columns(contract)
    preprocessor = build_preprocessor(contract).fit(parts["train"][columns])
    return parts, columns, preprocessor


def _fit(family: str, data):
    from sklearn.pipeline import Pipeline

    parts, columns, preprocessor = data
    params = {
        "logreg": {"C": 1.0, "l1_ratio": 0.0, "class_weight": None},
        "xgboost": {"max_depth": 3, "learning_rate": 0.1},
        "random_forest": {"n_estimators": 50, "max_depth": 5},
    }[family]
    model = spec(family).make_estimator(params, n_estimators=100 if family == "xgboost" else None)
    model.fit(preprocessor.transform(parts["train"][columns]), parts["train"][TARGET_COL])
    return Pipeline([("preprocess", preprocessor), ("model", model)])


def test_every_encoded_column_maps_to_a_field(data, contract: DataContract) -> None:
    _, _, preprocessor = data
    sources = encoded_sources(preprocessor)
    assert len(sources) == len(preprocessor.get_feature_names_out())
    assert set(contract.feature_columns) <= set(sources)
    assert sources.count("Contract") == 3  # three one-hot columns, one field


@pytest.mark.parametrize("family", ["logreg", "xgboost"])
def test_contributions_add_up_to_the_log_odds(family: str, data) -> None:
    parts, columns, _ = data
    pipeline = _fit(family, data)
    explainer = FieldExplainer(pipeline, parts["train"][columns], max_background=300)
    rows = parts["test"][columns].head(50)
    contributions = explainer.contributions(rows)
    assert list(contributions.columns) == explainer.fields
    p = pipeline.predict_proba(rows)[:, 1]
    log_odds = np.log(p / (1 - p))
    base = np.asarray(explainer.shap.expected_value).reshape(-1)[-1]
    if family == "xgboost":
        np.testing.assert_allclose(contributions.sum(axis=1) + base, log_odds, atol=1e-4)
    else:
        # Linear SHAP is exact relative to the background's mean log-odds.
        centered = log_odds - contributions.sum(axis=1)
        assert np.ptp(centered) < 1e-6


def test_top_reasons_name_fields_and_values(data) -> None:
    parts, columns, _ = data
    pipeline = _fit("random_forest", data)
    explainer = FieldExplainer(pipeline, parts["train"][columns])
    rows = parts["test"][columns].head(4)
    reasons = explainer.top_reasons(rows, k=3)
    assert len(reasons) == 4 and all(len(r) == 3 for r in reasons)
    first = reasons[0]
    assert [r["contribution"] for r in first] == sorted(
        (r["contribution"] for r in first), reverse=True
    )
    for reason in first:
        if reason["feature"] in rows:
            assert reason["value"] == rows.iloc[0][reason["feature"]]
    importance = global_importance(explainer.contributions(parts["test"][columns].head(100)))
    assert importance["mean_abs_shap"].is_monotonic_decreasing
    assert isinstance(importance, pd.DataFrame)
