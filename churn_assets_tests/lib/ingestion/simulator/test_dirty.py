"""Dirty rows: each one fails the contract, at the requested rate, truth unchanged."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest
from pandera.errors import SchemaErrors

from churn_assets.lib.ingestion.simulator import (
    SimulatorConfig,
    simulate,
)


def _failing_rows(schema: pa.DataFrameSchema, frame: pd.DataFrame) -> pd.DataFrame:
    try:
        schema.validate(frame, lazy=True)
    except SchemaErrors as error:
        return error.failure_cases
    return pd.DataFrame(columns=["index", "check", "column"])


def test_dirty_rows_fail_the_contract_about_at_the_requested_rate(
    schema: pa.DataFrameSchema, small: SimulatorConfig
) -> None:
    config = dataclasses.replace(small, dirty_rate=0.02)
    dirty = simulate(config)
    frame = dirty.snapshots
    failures = _failing_rows(schema, frame)
    failing = failures["index"].dropna().astype(int).unique()
    assert len(failing) / len(frame) == pytest.approx(0.02, abs=0.003)
    kinds = set(failures["check"].astype(str))
    assert "multiple_fields_uniqueness" in kinds  # duplicated ids within a snapshot
    assert "not_nullable" in kinds
    assert any(kind.startswith("isin") for kind in kinds)
    assert any(kind.startswith("in_range") for kind in kinds)
    assert frame.duplicated(["customerID", "snapshot_month"]).any()
    assert (frame["MonthlyCharges"] < 0).any()
    assert (frame["tenure"] > 600).any()
    # Dtypes are unchanged and the truth still lines up row by row with the true ids.
    clean = simulate(small)
    pd.testing.assert_series_equal(frame.dtypes, clean.snapshots.dtypes)
    pd.testing.assert_frame_equal(dirty.truth, clean.truth)
    changed_rows = (frame.fillna(-1) != clean.snapshots.fillna(-1)).any(axis=1)
    assert changed_rows.sum() == round(0.02 * len(frame))
    assert set(np.flatnonzero(changed_rows)) == set(failing)
