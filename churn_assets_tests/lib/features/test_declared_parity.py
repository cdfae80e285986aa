"""One definition, four paths: on a non-Telco contract declaring every kind, the column path,
the record path, the fitted pandas pipeline and the compiled scorer agree on thousands of
random rows with NaNs, unseen categories and a high-cardinality field that gets capped."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from churn_assets.lib.contract import DataContract
from churn_assets.lib.features.capping import OTHER
from churn_assets.lib.features.engineering import FeatureBuilder, feature_column
from churn_assets.lib.features.preprocessing import build_preprocessor, model_input_columns
from churn_assets.lib.serving.scorer import CompiledScorer
from churn_assets.lib.training.families import spec

CONTRACT = """\
schema_type: dataframe
api: pandas
name: parity
columns:
  cid: {dtype: str}
  plan: {dtype: str, nullable: true, isin: [basic, standard, premium]}
  city: {dtype: str, nullable: true}
  fee: {dtype: float64, nullable: true}
  usage: {dtype: float64, nullable: true}
  tickets: {dtype: int64}
  tenure: {dtype: int64}
  gone: {dtype: str, isin: ["Y", "N"]}
metadata:
  churn_contract:
    id: cid
    target: {column: gone, positive: "Y", negative: "N"}
    features:
      - {name: spend_band, kind: bucket, column: fee_per_month, edges: [1, 5, 20]}
      - name: fee_per_month
        kind: ratio
        numerator: fee
        denominator: tenure
        min_denominator: 1
        fill: 0.0
        clip: [0.0, 40.0]
      - {name: usage_per_fee, kind: ratio, numerator: usage, denominator: fee,
         when: {column: tickets, le: 5}}
      - {name: usage_gap, kind: difference, columns: [usage, fee]}
      - {name: log_usage, kind: log1p, column: usage, fill: -1.0}
      - {name: tenure_band, kind: bucket, column: tenure, edges: [3, 12, 24]}
      - {name: fee_x_tickets, kind: interaction, columns: [fee, tickets]}
      - {name: plan_city, kind: interaction, columns: [plan, city]}
      - {name: paid_plan, kind: flag, column: plan, in: [standard, premium]}
      - {name: heavy, kind: flag, column: usage, ge: 100, labels: [heavy, light]}
      - {name: not_basic, kind: flag, column: plan, not_equals: basic}
      - name: trouble
        kind: count
        conditions:
          - {column: tickets, gt: 2}
          - {column: plan, equals: basic}
          - {column: city, contains: "7"}
          - {column: usage, lt: 5}
          - {column: tenure_band, not_in: ["(24, inf)"]}
"""


def random_rows(n: int, seed: int, unseen: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    plans = np.array(["basic", "standard", "premium"] + (["gold"] if unseen else []), object)
    frame = pd.DataFrame(
        {
            "plan": rng.choice(plans, n),
            # Zipf-like: a few big cities, hundreds of small ones (capped), new ones when unseen.
            "city": [f"city-{k}" for k in rng.zipf(1.3, n) % (900 if unseen else 600)],
            "fee": rng.gamma(2.0, 8.0, n).round(2),
            "usage": rng.gamma(1.5, 40.0, n).round(1),
            "tickets": rng.poisson(1.5, n),
            "tenure": rng.integers(0, 60, n),
        }
    )
    # Missing as NaN, as a CSV or parquet read gives it (the pipeline's most-frequent imputer
    # would take a None in a string column for a category; the scorer imputes it).
    for col in ("plan", "city", "fee", "usage"):
        frame.loc[rng.random(n) < 0.05, col] = np.nan
    frame.loc[:9, "tenure"] = [0, 1, 3, 4, 12, 13, 24, 25, 0, 59]
    frame.loc[:4, "fee"] = [0.0, 0.0, np.nan, 1e-9, 5.0]
    frame.loc[:4, "usage"] = [0.0, -3.0, 100.0, np.nan, 99.9]
    return frame


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("parity") / "parity.yaml"
    path.write_text(CONTRACT)
    contract = DataContract.load(path)
    train = random_rows(3000, seed=1)
    y = (np.random.default_rng(2).random(len(train)) < 0.3).astype(int)
    columns = model_input_columns(contract)
    preprocess = build_preprocessor(contract).fit(train[columns])
    estimator = spec("logreg").make_estimator({"C": 0.5, "l1_ratio": 0.0, "class_weight": None})
    estimator.fit(preprocess.transform(train[columns]), y)
    model = Pipeline([("preprocess", preprocess), ("model", estimator)])
    return contract, model, CompiledScorer.compile(model, contract, "logreg")


def test_column_and_record_paths_agree(fitted) -> None:
    contract = fitted[0]
    rows = random_rows(3000, seed=3, unseen=True)
    builder = FeatureBuilder(contract.engineered_features)
    built = builder.fit_transform(rows)
    cols = {c: feature_column(rows[c]) for c in rows}
    for feature in builder.compiled():
        cols[feature.name] = feature.compute(cols)
        np.testing.assert_array_equal(cols[feature.name], built[feature.name].to_numpy())
    for record, (_, want) in zip(rows.to_dict("records"), built.iterrows(), strict=True):
        for feature in builder.compiled():
            got, expected = feature.compute_row(record), want[feature.name]
            record[feature.name] = got
            assert got == expected or (got != got and expected != expected), (feature.name, record)
    assert set(built["heavy"]) == {"heavy", "light"}
    assert "nan|city-1" in set(built["plan_city"])  # a missing plan crosses as "nan"


def test_pipeline_and_compiled_scorer_agree(fitted) -> None:
    contract, model, scorer = fitted
    rows = random_rows(2500, seed=4, unseen=True)[model_input_columns(contract)]
    preprocess = model.named_steps["preprocess"]
    expected = preprocess.transform(rows)
    np.testing.assert_array_equal(scorer.encode(scorer.columns_from_frame(rows)), expected)
    records = rows.to_dict("records")
    singles = np.vstack([scorer.encode_record(r) for r in records])
    np.testing.assert_array_equal(singles, expected)
    want = model.predict_proba(rows)[:, 1]
    np.testing.assert_allclose(scorer.predict_proba(rows), want, rtol=0, atol=1e-9)
    got = [scorer.predict_proba([r])[0] for r in records]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
    # The capped fields really were capped, and unseen cities took their `__other__` column.
    capper = preprocess.named_steps["encode"].named_transformers_["categorical"]["cap"]
    categorical = preprocess.named_steps["encode"].transformers_[1][2]
    capped = {c for c, kept in zip(categorical, capper.kept_, strict=True) if kept is not None}
    assert capped == {"city", "plan_city"}
    city = next(enc for enc in scorer.categorical if enc.column == "city")
    assert city.other == city.positions[OTHER] and len(city.positions) <= 50
    unseen = rows.assign(city="city-never-seen").head(1)
    assert scorer.encode(scorer.columns_from_frame(unseen))[0, city.other] == 1.0


def test_parity_contract_loads_from_a_file_alone(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(CONTRACT)
    kinds = {f.kind for f in DataContract.load(path).engineered_features}
    assert kinds == {"ratio", "difference", "log1p", "bucket", "interaction", "flag", "count"}
