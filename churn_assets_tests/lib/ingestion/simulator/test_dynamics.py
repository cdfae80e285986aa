"""The month-to-month simulation: determinism, schema, churn and renewal, drift."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest

from churn_assets.lib.ingestion.simulator import (
    COLUMNS,
    DriftSpec,
    SimulationResult,
    SimulatorConfig,
    churn_probability,
    simulate,
)


def _month_frames(frame: pd.DataFrame) -> list[pd.DataFrame]:
    return [part for _, part in frame.groupby("snapshot_month", sort=True)]


def test_same_config_gives_identical_frames(
    result: SimulationResult, small: SimulatorConfig
) -> None:
    again = simulate(small)
    pd.testing.assert_frame_equal(result.snapshots, again.snapshots)
    pd.testing.assert_frame_equal(result.truth, again.truth)


def test_dirty_and_drifting_config_is_deterministic() -> None:
    config = SimulatorConfig(
        n_customers=1000,
        months=4,
        seed=3,
        dirty_rate=0.05,
        drift=DriftSpec(start_month=2, price_rise=0.1, month_to_month_shift=0.1),
    )
    first, second = simulate(config), simulate(config)
    pd.testing.assert_frame_equal(first.snapshots, second.snapshots)
    pd.testing.assert_frame_equal(first.truth, second.truth)


def test_different_seed_gives_different_data(
    result: SimulationResult, small: SimulatorConfig
) -> None:
    other = simulate(dataclasses.replace(small, seed=small.seed + 1))
    assert not result.snapshots.equals(other.snapshots)
    assert set(result.snapshots["customerID"]) != set(other.snapshots["customerID"])
    assert not np.allclose(
        result.truth["churn_probability"].to_numpy(), other.truth["churn_probability"].to_numpy()
    )


def test_columns_and_dtypes(result: SimulationResult, small: SimulatorConfig) -> None:
    frame = result.snapshots
    assert tuple(frame.columns) == COLUMNS
    assert isinstance(frame.index, pd.RangeIndex)
    assert len(frame) == small.n_customers * small.months
    assert frame["snapshot_month"].dtype == np.dtype("datetime64[ns]")
    for name in ("SeniorCitizen", "tenure"):
        assert frame[name].dtype == np.int64
    for name in ("MonthlyCharges", "TotalCharges"):
        assert frame[name].dtype == np.float64
    text_columns = [c for c in COLUMNS if frame[c].dtype == object]
    assert len(text_columns) == 17
    for name in text_columns:
        assert {type(value) for value in frame[name].unique()} == {str}, name


def test_clean_simulation_passes_the_contract(
    schema: pa.DataFrameSchema, result: SimulationResult
) -> None:
    validated = schema.validate(result.snapshots, lazy=True)
    assert len(validated) == len(result.snapshots)
    # Every allowed value list of the contract is honoured (and every level appears).
    for name, column in schema.columns.items():
        for check in column.checks:
            if check.name == "isin":
                allowed = set(check.statistics["allowed_values"])
                assert set(result.snapshots[name].unique()) == allowed, name


def test_snapshot_months_and_ids(result: SimulationResult, small: SimulatorConfig) -> None:
    frame = result.snapshots
    months = sorted(frame["snapshot_month"].unique())
    assert months == list(pd.date_range(small.start_month, periods=small.months, freq="MS"))
    assert frame["customerID"].str.fullmatch(r"\d{4}-[A-Z]{5}").all()
    assert not frame.duplicated(["customerID", "snapshot_month"]).any()
    assert (frame.groupby("snapshot_month").size() == small.n_customers).all()


def test_churned_customers_never_reappear(result: SimulationResult) -> None:
    frame = result.snapshots
    seen_churned: set[str] = set()
    for part in _month_frames(frame):
        assert not seen_churned & set(part["customerID"])
        seen_churned |= set(part.loc[part["Churn"] == "Yes", "customerID"])


def test_survivors_age_by_one_month_and_accumulate_charges(result: SimulationResult) -> None:
    months = _month_frames(result.snapshots)
    for before, after in itertools.pairwise(months):
        stayed = before[before["Churn"] == "No"]
        merged = stayed.merge(after, on="customerID", suffixes=("", "_next"), validate="1:1")
        assert len(merged) == len(stayed), "every survivor appears next month"
        assert (merged["tenure_next"] == merged["tenure"] + 1).all()
        expected = merged["TotalCharges"].fillna(0.0) + merged["MonthlyCharges_next"]
        assert np.allclose(merged["TotalCharges_next"], expected, atol=0.02)
        newcomers = after[~after["customerID"].isin(before["customerID"])]
        assert len(newcomers) == (before["Churn"] == "Yes").sum()
        assert (newcomers["tenure"] == 0).all()
        assert newcomers["TotalCharges"].isna().all()


def test_monthly_churn_rate_is_sane(default_result: SimulationResult) -> None:
    frame = default_result.snapshots
    rates = (frame["Churn"] == "Yes").groupby(frame["snapshot_month"]).mean()
    assert rates.between(0.06, 0.14).all(), rates
    truth = default_result.truth
    month0 = truth["snapshot_month"] == truth["snapshot_month"].min()
    assert 0.08 <= truth.loc[month0, "churn_probability"].mean() <= 0.12


def test_truth_is_aligned_and_hidden(result: SimulationResult) -> None:
    snapshots, truth = result.snapshots, result.truth
    assert list(truth.columns) == ["customerID", "snapshot_month", "churn_probability"]
    assert "churn_probability" not in snapshots.columns
    pd.testing.assert_index_equal(truth.index, snapshots.index)
    pd.testing.assert_series_equal(truth["customerID"], snapshots["customerID"])
    pd.testing.assert_series_equal(truth["snapshot_month"], snapshots["snapshot_month"])
    probability = truth["churn_probability"].to_numpy()
    assert ((probability > 0) & (probability < 1)).all()


def _by_month(frame: pd.DataFrame, column: str, value: str | None = None) -> pd.Series:
    series = frame[column] == value if value is not None else frame[column]
    return series.groupby(frame["snapshot_month"]).mean().reset_index(drop=True)


def test_price_rise_raises_monthly_charges_from_start_month(small: SimulatorConfig) -> None:
    drift = DriftSpec(start_month=3, price_rise=0.15)
    drifted = simulate(dataclasses.replace(small, drift=drift))
    baseline = simulate(small)
    charges = _by_month(drifted.snapshots, "MonthlyCharges")
    assert charges[3] / charges[2] == pytest.approx(1.15, abs=0.02)
    assert (charges[3:] / charges[2] > 1.12).all()
    pd.testing.assert_frame_equal(
        drifted.snapshots.iloc[: 3 * small.n_customers],
        baseline.snapshots.iloc[: 3 * small.n_customers],
    )
    # Churn reacts to the higher prices through the relative-price term.
    churn_after = _by_month(drifted.truth, "churn_probability")[3]
    assert churn_after > _by_month(baseline.truth, "churn_probability")[3] * 1.2


def test_month_to_month_shift_raises_that_contract_share(small: SimulatorConfig) -> None:
    drift = DriftSpec(start_month=2, month_to_month_shift=0.1)
    share = _by_month(
        simulate(dataclasses.replace(small, drift=drift)).snapshots, "Contract", "Month-to-month"
    )
    baseline = _by_month(simulate(small).snapshots, "Contract", "Month-to-month")
    assert share[2] - share[1] == pytest.approx(0.1, abs=0.03)
    assert (share[2:] - baseline[2:] > 0.07).all()
    assert share[1] == pytest.approx(baseline[1])


def test_concept_shift_is_used_for_the_truth_from_start_month(small: SimulatorConfig) -> None:
    drift = DriftSpec(start_month=2, concept_shift=0.7)
    drifted = simulate(dataclasses.replace(small, drift=drift))
    frame, truth = drifted.snapshots, drifted.truth
    late = (frame["snapshot_month"] >= frame["snapshot_month"].unique()[2]).to_numpy()
    np.testing.assert_allclose(
        churn_probability(frame[late], concept_shift=0.7), truth.loc[late, "churn_probability"]
    )
    np.testing.assert_allclose(
        churn_probability(frame[~late]), truth.loc[~late, "churn_probability"]
    )
