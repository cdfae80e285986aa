"""SHAP explanations per contract field: additivity, field mapping, top reasons."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churn_assets.lib.contract import DataContract
from churn_assets.lib.evaluation.explain import (
    UNITS,
    FieldExplainer,
    encoded_sources,
    global_importance,
    logit,
)
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
        "lightgbm": {"num_leaves": 15, "learning_rate": 0.1},
        # Deep, unpruned trees: some rows score exactly 0 or 1 (infinite log-odds, clipped).
        "random_forest": {"n_estimators": 50, "max_depth": None},
    }[family]
    boosted = family in ("xgboost", "lightgbm")
    model = spec(family).make_estimator(params, n_estimators=100 if boosted else None)
    model.fit(preprocessor.transform(parts["train"][columns]), parts["train"][TARGET_COL])
    return Pipeline([("preprocess", preprocessor), ("model", model)])


def test_every_encoded_column_maps_to_a_field(data, contract: DataContract) -> None:
    _, _, preprocessor = data
    sources = encoded_sources(preprocessor)
    assert len(sources) == len(preprocessor.get_feature_names_out())
    assert set(contract.feature_columns) <= set(sources)
    assert sources.count("Contract") == 3  # three one-hot columns, one field


# XGBoost computes its margin and its contributions in float32 (about 7 significant digits:
# measured up to 3.3e-6 apart on margins of a few units); the others are exact in float64.
ADDITIVITY_ATOL = {"logreg": 1e-6, "lightgbm": 1e-6, "random_forest": 1e-6, "xgboost": 2e-5}


@pytest.mark.parametrize("family", ["logreg", "xgboost", "lightgbm", "random_forest"])
def test_contributions_add_up_to_the_log_odds(family: str, data) -> None:
    # Every family in one unit: base + contributions = logit(P(churn)) of the pipeline.
    # (Random-forest TreeSHAP is in probability units: labelled log-odds, it added up to p.)
    parts, columns, _ = data
    pipeline = _fit(family, data)
    explainer = FieldExplainer(pipeline, parts["train"][columns], max_background=300)
    rows = parts["test"][columns].head(80)
    contributions = explainer.contributions(rows)
    assert list(contributions.columns) == explainer.fields
    assert explainer.units == UNITS == "log-odds"
    log_odds = logit(pipeline.predict_proba(rows)[:, 1])
    np.testing.assert_allclose(explainer.model_output(rows), log_odds)
    total = contributions.sum(axis=1).to_numpy() + explainer.base_value
    np.testing.assert_allclose(total, log_odds, rtol=0, atol=ADDITIVITY_ATOL[family])
    assert np.isfinite(contributions.to_numpy()).all()


def test_forest_units_keep_each_rows_ranking(data) -> None:
    # The forest's change of units is one positive factor per row: signs and order kept.
    import shap

    parts, columns, preprocessor = data
    pipeline = _fit("random_forest", data)
    explainer = FieldExplainer(pipeline, parts["train"][columns])
    encoded = preprocessor.transform(parts["test"][columns].head(30))
    probability = shap.TreeExplainer(pipeline.named_steps["model"]).shap_values(encoded)[:, :, 1]
    log_odds = explainer.shap.values(encoded)
    ratio = log_odds / np.where(probability == 0, np.nan, probability)
    assert np.nanmin(ratio) > 0
    spread = np.nanmax(ratio, axis=1) - np.nanmin(ratio, axis=1)
    assert np.nanmax(spread / np.nanmax(ratio, axis=1)) < 1e-9


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
