"""Monthly files: names, CSV blanks and Parquet round trips."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from churn_assets.lib.ingestion.simulator import (
    COLUMNS,
    SimulatorConfig,
    simulate,
    write_monthly_files,
)


def test_write_monthly_files_round_trips(tmp_path: Path) -> None:
    small = simulate(SimulatorConfig(n_customers=300, months=3, seed=1))
    paths = write_monthly_files(small, tmp_path / "out")
    assert [p.name for p in paths] == [
        "customers_2026-01.csv",
        "customers_2026-02.csv",
        "customers_2026-03.csv",
    ]
    first = pd.read_csv(paths[0], parse_dates=["snapshot_month"])
    expected = small.snapshots.iloc[:300].reset_index(drop=True)
    pd.testing.assert_frame_equal(first, expected, check_exact=False)
    lines = paths[0].read_text().splitlines()
    assert lines[0].split(",") == list(COLUMNS)
    blank = [line for line in lines[1:] if re.search(r",,(Yes|No)$", line)]
    assert len(blank) == (expected["tenure"] == 0).sum() > 0

    parquet = write_monthly_files(small, tmp_path / "pq", fmt="parquet")
    assert parquet[-1].name == "customers_2026-03.parquet"
    back = pd.read_parquet(parquet[-1])
    pd.testing.assert_frame_equal(back, small.snapshots.iloc[600:].reset_index(drop=True))
    with pytest.raises(ValueError):
        write_monthly_files(small, tmp_path, fmt="xlsx")
