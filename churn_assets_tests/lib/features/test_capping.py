"""High-cardinality categoricals are capped inside the pipeline; Telco's encoding is not
touched (every Telco categorical has at most four values)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from churn_assets.lib.contract import DataContract
from churn_assets.lib.features.capping import OTHER, CategoryCapper
from churn_assets.lib.features.preprocessing import build_preprocessor, model_input_columns

WIDE = """\
schema_type: dataframe
api: pandas
name: wide
columns:
  cid: {dtype: str}
  device: {dtype: str}
  plan: {dtype: str}
  fee: {dtype: float64}
  gone: {dtype: str, isin: ["Y", "N"]}
metadata:
  churn_contract:
    id: cid
    target: {column: gone, positive: "Y", negative: "N"}
"""


def test_telco_encoding_is_unchanged_by_the_capper(contract: DataContract, telco_csv) -> None:
    real = pd.read_csv(telco_csv)
    real["TotalCharges"] = pd.to_numeric(real["TotalCharges"], errors="coerce").fillna(0.0)
    rows = real[model_input_columns(contract)]
    capped = build_preprocessor(contract).fit(rows)
    uncapped = build_preprocessor(contract)
    uncapped.named_steps["encode"].transformers[1][1].set_params(cap="passthrough")
    uncapped.fit(rows)
    names = capped.get_feature_names_out()
    np.testing.assert_array_equal(names, uncapped.get_feature_names_out())
    np.testing.assert_array_equal(capped.transform(rows), uncapped.transform(rows))
    assert len(names) == 55  # the README's "55 model inputs"


def test_a_5000_level_field_no_longer_makes_5000_columns(tmp_path: Path) -> None:
    path = tmp_path / "wide.yaml"
    path.write_text(WIDE)
    contract = DataContract.load(path)
    rng = np.random.default_rng(0)
    n = 20_000
    rows = pd.DataFrame(
        {
            # 5,000 levels: a long tail behind a few hundred common ones.
            "device": [f"model-{k}" for k in np.r_[np.arange(5000), rng.zipf(1.3, n - 5000)]],
            "plan": rng.choice(["a", "b"], n),
            "fee": rng.random(n),
        }
    )
    pipeline = build_preprocessor(contract).fit(rows)
    names = [str(name) for name in pipeline.get_feature_names_out()]
    device = [name for name in names if "device_" in name]
    assert rows["device"].nunique() >= 5000
    assert len(device) == 50 and f"categorical__device_{OTHER}" in device  # 49 kept + other
    assert len(names) == len(device) + 2 + 1  # plan's two columns, fee
    # A device first seen at serving time counts as "other", like the rare ones.
    new = pipeline.transform(rows.head(1).assign(device="model-new"))
    assert new[0, names.index(f"categorical__device_{OTHER}")] == 1.0


def test_capper_keeps_frequent_categories_deterministically() -> None:
    values = ["a"] * 10 + ["b"] * 6 + ["c"] * 6 + ["d"] * 2
    X = np.asarray(values, dtype=object).reshape(-1, 1)
    capper = CategoryCapper(max_categories=3, min_count=5).fit(X)
    assert capper.kept_ == [frozenset({"a", "b"})]  # b before c: ties go by text
    assert capper.transform(np.asarray([["c"], ["a"], ["z"]], dtype=object)).ravel().tolist() == [
        OTHER,
        "a",
        OTHER,
    ]
    small = CategoryCapper(max_categories=3, min_count=1).fit(X[:16])
    assert small.kept_ == [None]  # two categories: nothing to cap, passes through
    assert small.transform(np.asarray([["z"]], dtype=object)).tolist() == [["z"]]
