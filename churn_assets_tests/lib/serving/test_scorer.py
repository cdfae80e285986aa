"""The compiled scorer gives the sklearn pipeline's probabilities, for every family and
calibration, on thousands of rows including edge values; and the engineered features are
one implementation for pandas and the request path."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from churn_assets.lib.contract import DataContract
from churn_assets.lib.features.engineering import (
    TARGET_COL,
    FeatureBuilder,
    build_feature_table,
)
from churn_assets.lib.features.preprocessing import build_preprocessor
from churn_assets.lib.ingestion.simulator import SimulatorConfig, simulate
from churn_assets.lib.ingestion.validation import validate_frame
from churn_assets.lib.serving.scorer import FACTORIZE_ROWS, CompiledScorer, ScorerError
from churn_assets.lib.training.champion import _calibrator
from churn_assets.lib.training.families import spec

PARAMS = {
    "logreg": {"C": 0.5, "l1_ratio": 0.0, "class_weight": None},
    "xgboost": {"max_depth": 4, "learning_rate": 0.1},
    "lightgbm": {"num_leaves": 15, "learning_rate": 0.1},
    "random_forest": {"n_estimators": 60, "max_depth": 8, "min_samples_leaf": 3},
}


@pytest.fixture(scope="module")
def data(contract: DataContract) -> dict[str, pd.DataFrame]:
    snapshots = simulate(SimulatorConfig(n_customers=3000, months=2, seed=3)).snapshots
    valid = validate_frame(snapshots, contract).valid
    table = build_feature_table(valid, contract).sample(frac=1.0, random_state=0)
    n = len(table)
    return {
        "train": table.iloc[: n // 2],
        "validation": table.iloc[n // 2 : 3 * n // 4],
        "score": table.iloc[3 * n // 4 :],
    }


def edge_rows(frame: pd.DataFrame, contract: DataContract) -> pd.DataFrame:
    """Rows at the contract's bounds, band edges, nulls where allowed, every category."""
    rows = frame[contract.feature_columns].head(40).copy().reset_index(drop=True)
    rows.loc[:9, "tenure"] = [0, 1, 6, 7, 12, 13, 24, 48, 49, 600]
    rows.loc[10:14, "TotalCharges"] = np.nan
    rows.loc[15:17, "MonthlyCharges"] = [0.0, 1000.0, 18.25]
    rows.loc[18:19, "TotalCharges"] = [0.0, 1e5]
    for i, column in enumerate(contract.categorical_features):
        for j, value in enumerate(contract.allowed_values(column) or ()):
            rows.loc[(i + j) % len(rows), column] = value
    return rows


@pytest.mark.parametrize("family", list(PARAMS))
def test_compiled_scores_equal_the_pipeline(
    family: str, data: dict[str, pd.DataFrame], contract: DataContract
) -> None:
    columns = contract.feature_columns
    train, validation = data["train"], data["validation"]
    preprocess = build_preprocessor(contract).fit(train[columns])
    estimator = spec(family).make_estimator(PARAMS[family], n_estimators=150)
    estimator.fit(preprocess.transform(train[columns]), train[TARGET_COL])
    pipeline = Pipeline([("preprocess", preprocess), ("model", estimator)])
    rows = pd.concat(
        [validation[columns], data["score"][columns], edge_rows(data["score"], contract)]
    )
    # The pandas path gets the contract's null policy from validation; the scorer applies it.
    filled = rows.fillna({"TotalCharges": 0.0})
    assert len(rows) > 2000
    for method in ("none", "sigmoid", "isotonic"):
        model = pipeline
        if method != "none":
            model = _calibrator(pipeline, method).fit(validation[columns], validation[TARGET_COL])
        expected = model.predict_proba(filled)[:, 1]
        scorer = CompiledScorer.compile(model, contract, family)
        from_frame = scorer.predict_proba(rows)
        from_records = scorer.predict_proba(rows.to_dict("records"))
        np.testing.assert_allclose(from_frame, expected, rtol=0, atol=1e-9, err_msg=method)
        np.testing.assert_allclose(from_records, expected, rtol=0, atol=1e-9, err_msg=method)
        # One record at a time, as the service calls it (the plain-Python path).
        singles = [scorer.predict_proba([r])[0] for r in rows.to_dict("records")]
        np.testing.assert_allclose(singles, expected, rtol=0, atol=1e-9, err_msg=method)


def test_encoding_equals_the_column_transformer(
    data: dict[str, pd.DataFrame], contract: DataContract
) -> None:
    columns = contract.feature_columns
    preprocess = build_preprocessor(contract).fit(data["train"][columns])
    estimator = (
        spec("logreg")
        .make_estimator(PARAMS["logreg"])
        .fit(preprocess.transform(data["train"][columns]), data["train"][TARGET_COL])
    )
    scorer = CompiledScorer.compile(
        Pipeline([("preprocess", preprocess), ("model", estimator)]), contract, "logreg"
    )
    rows = data["score"][columns]
    np.testing.assert_array_equal(
        scorer.encode(scorer.columns_from_frame(rows)), preprocess.transform(rows)
    )
    # An unseen category encodes as all zeros, as OneHotEncoder(handle_unknown="ignore").
    odd = rows.head(3).copy()
    odd["Contract"] = "Ten year"
    np.testing.assert_array_equal(
        scorer.encode(scorer.columns_from_frame(odd)), preprocess.transform(odd)
    )
    # Small batches look up every value, larger ones each distinct value once: the same
    # matrix, with nulls (None and NaN) and unseen categories.
    mixed = rows.head(200).copy()
    for column, step, value in (
        ("Contract", 7, None),
        ("PaymentMethod", 11, np.nan),
        ("InternetService", 13, "Satellite"),
    ):
        mixed[column] = mixed[column].astype(object)
        mixed.iloc[step // 2 :: step, mixed.columns.get_loc(column)] = value
    columns_in = scorer.columns_from_frame(mixed)
    whole = scorer.encode(columns_in)
    pieces = [
        scorer.encode({k: v[i : i + FACTORIZE_ROWS - 1] for k, v in columns_in.items()})
        for i in range(0, len(mixed), FACTORIZE_ROWS - 1)
    ]
    assert len(mixed) > FACTORIZE_ROWS > len(pieces[0])
    np.testing.assert_array_equal(whole, np.vstack(pieces))


def test_engineered_features_match_on_pandas_and_numpy(contract: DataContract) -> None:
    frame = simulate(SimulatorConfig(n_customers=500, months=1, seed=1)).snapshots
    frame.loc[:4, "tenure"] = [0, 6, 7, 48, 49]
    frame.loc[5:6, "TotalCharges"] = np.nan
    builder = FeatureBuilder(contract.engineered_features)
    built = builder.fit(frame).transform(frame)
    assert built.loc[:4, "tenure_band"].tolist() == ["0-6", "0-6", "7-12", "25-48", "49+"]
    assert built.loc[0, "price_change_ratio"] == 1.0  # new customers have no history
    assert built.loc[5, "avg_monthly_spend"] == 0.0  # a null total counts as nothing paid
    # The per-record formulas agree with the array ones on every row, edges included (each
    # record sees the features computed before it, as the scorer's record path does).
    compiled = builder.compiled()
    for record, (_, expected) in zip(frame.to_dict("records"), built.iterrows(), strict=True):
        for feature in compiled:
            got = record[feature.name] = feature.compute_row(record)
            want = expected[feature.name]
            assert got == want or (got != got and want != want), (feature.name, record)


def test_unknown_models_are_refused(contract: DataContract) -> None:
    from sklearn.dummy import DummyClassifier

    with pytest.raises(ScorerError, match="Pipeline"):
        CompiledScorer.compile(DummyClassifier(), contract, "dummy")


def test_estimators_of_no_registered_family_are_refused(
    data: dict[str, pd.DataFrame], contract: DataContract
) -> None:
    from sklearn.naive_bayes import GaussianNB

    columns = contract.feature_columns
    preprocess = build_preprocessor(contract).fit(data["train"][columns])
    X = preprocess.transform(data["train"][columns])
    pipeline = Pipeline(
        [("preprocess", preprocess), ("model", GaussianNB().fit(X, data["train"][TARGET_COL]))]
    )
    with pytest.raises(ScorerError, match="no compiled scorer for GaussianNB"):
        CompiledScorer.compile(pipeline, contract, "nb")
