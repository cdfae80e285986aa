"""The train / validation / test split."""

from __future__ import annotations

import pandas as pd
import pytest

from churn_assets.lib.contract import DataContract
from churn_assets.lib.features.engineering import TARGET_COL
from churn_assets.lib.features.split import shared_customers, split_frame


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


def test_shared_customers_finds_ids_in_two_splits() -> None:
    parts = {
        "train": pd.DataFrame({"id": ["a", "b"]}),
        "validation": pd.DataFrame({"id": ["c"]}),
        "test": pd.DataFrame({"id": ["c", "b", "d"]}),
    }
    assert shared_customers(parts, "id") == {"b", "c"}
    assert shared_customers({k: v for k, v in parts.items() if k != "test"}, "id") == set()
