"""The one month-from-a-file-name rule, used by the landing sensor and the readers alike."""

from __future__ import annotations

import pandas as pd
import pytest

from churn_assets.lib.ingestion.months import month_of
from churn_assets.lib.ingestion.readers import add_snapshot_from_name


@pytest.mark.parametrize(
    ("name", "month"),
    [
        ("customers_2026-04.csv", "2026-04"),
        ("/landing/customers_2026-04.parquet", "2026-04"),
        ("monthly/2025-12_customers.csv", "2025-12"),
        ("customers_2026-04-15.csv", "2026-04"),
        ("customers_2026-04_v2_2026-04.csv", "2026-04"),
        ("customers.csv", None),
        ("customers_2026-13.csv", None),
        ("customers_20260401.csv", None),
        ("customers_2026-04_2026-05.csv", None),
        ("2026-04/customers.csv", None),  # a folder's month is not the file's
        ("12026-04.csv", None),  # a 5-digit year is not a year
    ],
)
def test_month_of(name: str, month: str | None) -> None:
    assert month_of(name) == month


@pytest.mark.parametrize(
    ("name", "snapshot"),
    [("customers_2026-04.csv", "2026-04-01"), ("12026-04.csv", None), ("customers.csv", None)],
)
def test_readers_follow_the_same_rule(name: str, snapshot: str | None) -> None:
    """A name the landing sensor rejects never gives rows a snapshot month either."""
    frame = add_snapshot_from_name(pd.DataFrame({"x": [1]}), name, "snapshot_month")
    assert frame.get("snapshot_month", pd.Series([None])).iloc[0] == snapshot
