"""Identifier-like feature columns are found (strings unique per customer, counters), and
ordinary fields, measures and repeated snapshots are not mistaken for them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from churn_assets.lib.contract import DataContract
from churn_assets.lib.features.identifiers import identifier_like_columns, identifier_warnings

CONTRACT = """\
schema_type: dataframe
api: pandas
name: ids
columns:
  cid: {dtype: str}
  email: {dtype: str}
  account_no: {dtype: int64}
  row_no: {dtype: int64}
  plan: {dtype: str}
  minutes: {dtype: int64}
  fee: {dtype: float64}
  gone: {dtype: str, isin: ["Y", "N"]}
metadata:
  churn_contract:
    id: cid
    target: {column: gone, positive: "Y", negative: "N"}
"""


def frame(n: int, months: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    account = rng.permutation(n) + 10_000  # shuffled but contiguous: a counter
    parts = []
    for _ in range(months):
        parts.append(
            pd.DataFrame(
                {
                    "cid": [f"c{i}" for i in range(n)],
                    "email": [f"user{i}@example.com" for i in range(n)],
                    "account_no": account,
                    "plan": rng.choice(["a", "b", "c"], n),
                    "minutes": rng.integers(0, 2 * n, n),  # an integer measure, varies monthly
                    "fee": rng.gamma(2.0, 10.0, n),
                }
            )
        )
    out = pd.concat(parts, ignore_index=True)
    out["row_no"] = np.arange(len(out))  # monotone, unique per row
    return out


def test_identifiers_are_found_in_one_snapshot_and_in_many(tmp_path: Path) -> None:
    path = tmp_path / "ids.yaml"
    path.write_text(CONTRACT)
    contract = DataContract.load(path)
    for months in (1, 3):
        found = identifier_like_columns(frame(3000, months), contract)
        assert set(found) == {"email", "account_no", "row_no"}, months
    lines = identifier_warnings(frame(3000, 1), contract)
    assert any(
        line.startswith("'email' looks like an identifier: exclude it with `exclude_from_features`")
        for line in lines
    )


def test_telco_fields_are_not_identifiers(contract: DataContract, telco_csv: Path) -> None:
    real = pd.read_csv(telco_csv)
    real["TotalCharges"] = pd.to_numeric(real["TotalCharges"], errors="coerce")
    assert identifier_like_columns(real, contract) == {}
    # The id itself would be one, were it a feature.
    assert "customerID" not in contract.feature_columns
