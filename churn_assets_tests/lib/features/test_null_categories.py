"""A missing value in a string column means one thing everywhere. Stored tables are parquet,
and a parquet round trip turns NaN in a string column into None: a pipeline fitted on such a
table must impute it as the compiled scorer does, not learn None as a category."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from churn_assets.lib.contract import DataContract
from churn_assets.lib.features.preprocessing import build_preprocessor, model_input_columns
from churn_assets.lib.serving.scorer import CompiledScorer
from churn_assets.lib.training.families import spec

CONTRACT = """\
schema_type: dataframe
api: pandas
name: nulls
columns:
  cid: {dtype: str}
  plan: {dtype: str, nullable: true, isin: [basic, premium]}
  fee: {dtype: float64}
  gone: {dtype: str, isin: ["Y", "N"]}
metadata:
  churn_contract:
    id: cid
    target: {column: gone, positive: "Y", negative: "N"}
    nulls:
      plan: {policy: impute}
"""


def test_a_missing_string_from_parquet_is_imputed_like_the_scorer_does(tmp_path: Path) -> None:
    path = tmp_path / "nulls.yaml"
    path.write_text(CONTRACT)
    contract = DataContract.load(path)
    rng = np.random.default_rng(0)
    n = 2000
    frame = pd.DataFrame(
        {"plan": rng.choice(["basic", "premium"], n, p=[0.7, 0.3]), "fee": rng.gamma(2, 8, n)}
    )
    frame.loc[rng.random(n) < 0.2, "plan"] = np.nan
    # Missing rows churn far more: a pipeline that learned None as a category would use it.
    y = np.where(frame["plan"].isna(), rng.random(n) < 0.8, rng.random(n) < 0.2).astype(int)
    frame.to_parquet(tmp_path / "train.parquet")
    stored = pd.read_parquet(tmp_path / "train.parquet")
    assert stored["plan"].isna().sum() and stored["plan"].map(lambda v: v is None).any()

    columns = model_input_columns(contract)
    preprocess = build_preprocessor(contract).fit(stored[columns])
    estimator = spec("logreg").make_estimator({"C": 1.0, "l1_ratio": 0.0, "class_weight": None})
    estimator.fit(preprocess.transform(stored[columns]), y)
    model = Pipeline([("preprocess", preprocess), ("model", estimator)])
    scorer = CompiledScorer.compile(model, contract, "logreg")

    missing = [{"plan": None, "fee": 10.0}, {"plan": float("nan"), "fee": 10.0}]
    imputed = {"plan": "basic", "fee": 10.0}  # the most frequent plan
    want = model.predict_proba(pd.DataFrame([imputed]))[0, 1]
    for record in missing:
        assert np.isclose(scorer.predict_proba([record])[0], want, rtol=0, atol=1e-12)
        assert np.isclose(model.predict_proba(pd.DataFrame([record]))[0, 1], want, atol=1e-12)
