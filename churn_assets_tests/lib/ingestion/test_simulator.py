"""Tests of the built-in Telco churn simulator."""

from __future__ import annotations

import dataclasses
import itertools
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest
from pandera.errors import SchemaErrors

from churn_assets.lib.ingestion.simulator import (
    COLUMNS,
    DriftSpec,
    SimulationResult,
    SimulatorConfig,
    churn_probability,
    expected_auc,
    expected_bayes_auc,
    list_price,
    realized_bayes_auc,
    simulate,
    write_monthly_files,
)

CONTRACT_PATH = Path(__file__).resolve().parents[3] / "churn_assets" / "contracts" / "telco.yaml"
ADDONS = [
    "OnlineSecurity",
    "OnlineBackup",
    "DeviceProtection",
    "TechSupport",
    "StreamingTV",
    "StreamingMovies",
]
SMALL = SimulatorConfig(n_customers=3000, months=6, seed=7)


@pytest.fixture(scope="module")
def schema() -> pa.DataFrameSchema:
    return pa.DataFrameSchema.from_yaml(CONTRACT_PATH)


@pytest.fixture(scope="module")
def result() -> SimulationResult:
    return simulate(SMALL)


@pytest.fixture(scope="module")
def default_result() -> SimulationResult:
    return simulate(SimulatorConfig())


def _with_tech_support(frame: pd.DataFrame, value: str) -> pd.DataFrame:
    """Counterfactual rows: tech support switched, bill re-priced at the customer's factor."""
    factor = frame["MonthlyCharges"] / list_price(frame)
    other = frame.assign(TechSupport=value)
    return other.assign(MonthlyCharges=np.round(list_price(other) * factor, 2))


def _month_frames(frame: pd.DataFrame) -> list[pd.DataFrame]:
    return [part for _, part in frame.groupby("snapshot_month", sort=True)]


def _failing_rows(schema: pa.DataFrameSchema, frame: pd.DataFrame) -> pd.DataFrame:
    try:
        schema.validate(frame, lazy=True)
    except SchemaErrors as error:
        return error.failure_cases
    return pd.DataFrame(columns=["index", "check", "column"])


# --------------------------------------------------------------------------- determinism


def test_same_config_gives_identical_frames(result: SimulationResult) -> None:
    again = simulate(SMALL)
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


def test_different_seed_gives_different_data(result: SimulationResult) -> None:
    other = simulate(dataclasses.replace(SMALL, seed=SMALL.seed + 1))
    assert not result.snapshots.equals(other.snapshots)
    assert set(result.snapshots["customerID"]) != set(other.snapshots["customerID"])
    assert not np.allclose(
        result.truth["churn_probability"].to_numpy(), other.truth["churn_probability"].to_numpy()
    )


# --------------------------------------------------------------------------- schema


def test_columns_and_dtypes(result: SimulationResult) -> None:
    frame = result.snapshots
    assert tuple(frame.columns) == COLUMNS
    assert isinstance(frame.index, pd.RangeIndex)
    assert len(frame) == SMALL.n_customers * SMALL.months
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


def test_snapshot_months_and_ids(result: SimulationResult) -> None:
    frame = result.snapshots
    months = sorted(frame["snapshot_month"].unique())
    assert months == list(pd.date_range(SMALL.start_month, periods=SMALL.months, freq="MS"))
    assert frame["customerID"].str.fullmatch(r"\d{4}-[A-Z]{5}").all()
    assert not frame.duplicated(["customerID", "snapshot_month"]).any()
    assert (frame.groupby("snapshot_month").size() == SMALL.n_customers).all()


def test_values_are_consistent(result: SimulationResult) -> None:
    frame = result.snapshots
    no_phone = frame["PhoneService"] == "No"
    assert ((frame["MultipleLines"] == "No phone service") == no_phone).all()
    no_internet = frame["InternetService"] == "No"
    for name in ADDONS:
        assert ((frame[name] == "No internet service") == no_internet).all(), name
    # Like the real data: customers without a phone line all have DSL.
    assert (frame.loc[no_phone, "InternetService"] == "DSL").all()
    charges = frame["MonthlyCharges"].to_numpy()
    assert np.allclose(charges * 100, np.round(charges * 100), atol=1e-6)
    assert charges.min() >= 15.0 and charges.max() <= 135.0
    ratio = charges / list_price(frame)
    assert ratio.min() >= 0.85 and ratio.max() <= 1.17
    assert (frame["TotalCharges"].isna() == (frame["tenure"] == 0)).all()
    # Customers who joined during the simulation have been billed exactly once at tenure 1
    # (month-0 histories carry a small jitter for past price changes).
    first = (frame["tenure"] == 1) & (frame["snapshot_month"] > frame["snapshot_month"].min())
    assert first.sum() > 100
    assert np.allclose(frame.loc[first, "TotalCharges"], frame.loc[first, "MonthlyCharges"])
    month0 = frame[frame["snapshot_month"] == frame["snapshot_month"].min()]
    assert month0["tenure"].between(0, 72).all()
    assert month0["tenure"].max() >= 60


def test_month_zero_marginals_look_like_telco(default_result: SimulationResult) -> None:
    frame = default_result.snapshots
    month0 = frame[frame["snapshot_month"] == frame["snapshot_month"].min()]

    def share(column: str, value: str) -> float:
        return float((month0[column] == value).mean())

    assert share("Contract", "Month-to-month") == pytest.approx(0.55, abs=0.03)
    assert share("Contract", "One year") == pytest.approx(0.21, abs=0.03)
    assert share("Contract", "Two year") == pytest.approx(0.24, abs=0.03)
    assert share("InternetService", "Fiber optic") == pytest.approx(0.44, abs=0.03)
    assert share("InternetService", "DSL") == pytest.approx(0.34, abs=0.03)
    assert share("InternetService", "No") == pytest.approx(0.22, abs=0.03)
    assert share("PaymentMethod", "Electronic check") == pytest.approx(0.34, abs=0.03)
    assert 55 <= month0["MonthlyCharges"].mean() <= 75


# --------------------------------------------------------------------------- dynamics


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


def test_truth_equals_churn_probability_of_the_rows(result: SimulationResult) -> None:
    recomputed = churn_probability(result.snapshots)
    np.testing.assert_allclose(recomputed, result.truth["churn_probability"], rtol=1e-12)


def test_churn_probability_has_the_documented_effects(result: SimulationResult) -> None:
    frame = result.snapshots.iloc[:2000].copy()
    base = churn_probability(frame)

    def changed(**values: object) -> np.ndarray:
        other = frame.copy()
        for column, value in values.items():
            other[column] = value
        return churn_probability(other)

    m2m_new = changed(Contract="Month-to-month", tenure=0)
    m2m_old = changed(Contract="Month-to-month", tenure=60)
    assert (m2m_new > m2m_old).all()
    two_new = changed(Contract="Two year", tenure=0)
    two_old = changed(Contract="Two year", tenure=60)
    np.testing.assert_allclose(two_new, two_old)
    assert (two_new < m2m_new).all()
    assert (changed(PaymentMethod="Electronic check") > changed(PaymentMethod="Mailed check")).all()
    assert (changed(SeniorCitizen=1) > changed(SeniorCitizen=0)).all()
    assert (changed(Partner="Yes") < changed(Partner="No")).all()
    assert (changed(Dependents="Yes") < changed(Dependents="No")).all()
    assert (changed(PaperlessBilling="Yes") > changed(PaperlessBilling="No")).all()
    expensive = frame.assign(MonthlyCharges=frame["MonthlyCharges"] * 1.1)
    assert (churn_probability(expensive) > base).all()
    fiber = frame[frame["InternetService"] == "Fiber optic"]
    assert len(fiber) > 100
    no_support = churn_probability(_with_tech_support(fiber, "No"))
    support = churn_probability(_with_tech_support(fiber, "Yes"))
    log_odds_gap = np.log(no_support / (1 - no_support)) - np.log(support / (1 - support))
    assert (log_odds_gap > 0.5).all()
    with pytest.raises(ValueError):
        churn_probability(frame, concept_shift=1.5)


# --------------------------------------------------------------------------- Bayes AUC


def _brute_force_auc(scores: np.ndarray, p: np.ndarray) -> float:
    greater = (scores[:, None] > scores[None, :]) + 0.5 * (scores[:, None] == scores[None, :])
    weight = p[:, None] * (1.0 - p[None, :])
    np.fill_diagonal(weight, 0.0)
    return float((weight * greater).sum() / weight.sum())


@pytest.mark.parametrize(
    ("n", "ties"),
    [(2, False), (7, False), (50, False), (60, True), (200, True)],
)
def test_expected_bayes_auc_matches_brute_force(n: int, ties: bool) -> None:
    rng = np.random.default_rng(n)
    p = rng.choice([0.05, 0.2, 0.5, 0.9], size=n) if ties else rng.uniform(0.01, 0.99, n)
    assert expected_bayes_auc(p) == pytest.approx(_brute_force_auc(p, p), abs=1e-12)
    scores = np.round(rng.normal(size=n), 1)  # coarse scores tie often
    assert expected_auc(scores, p) == pytest.approx(_brute_force_auc(scores, p), abs=1e-12)


def test_expected_auc_edge_cases() -> None:
    assert expected_bayes_auc(np.full(10, 0.3)) == pytest.approx(0.5)
    assert np.isnan(expected_bayes_auc(np.array([0.4])))
    with pytest.raises(ValueError):
        expected_auc(np.zeros(3), np.zeros(4))


def test_expected_bayes_auc_is_the_mean_realized_auc(result: SimulationResult) -> None:
    p = result.truth["churn_probability"].to_numpy()[:3000]
    rng = np.random.default_rng(0)
    realized = [realized_bayes_auc(p, rng.random(p.size) < p) for _ in range(150)]
    assert float(np.mean(realized)) == pytest.approx(expected_bayes_auc(p), abs=0.02)
    labels = result.snapshots["Churn"].to_numpy()[:3000]
    assert realized_bayes_auc(p, labels) == pytest.approx(expected_bayes_auc(p), abs=0.05)


def test_default_bayes_auc_is_in_the_target_band(default_result: SimulationResult) -> None:
    truth = default_result.truth
    month0 = (truth["snapshot_month"] == truth["snapshot_month"].min()).to_numpy()
    assert 0.80 <= expected_bayes_auc(truth["churn_probability"].to_numpy()[month0]) <= 0.88


# --------------------------------------------------------------------------- drift


def _by_month(frame: pd.DataFrame, column: str, value: str | None = None) -> pd.Series:
    series = frame[column] == value if value is not None else frame[column]
    return series.groupby(frame["snapshot_month"]).mean().reset_index(drop=True)


def test_price_rise_raises_monthly_charges_from_start_month() -> None:
    drift = DriftSpec(start_month=3, price_rise=0.15)
    drifted = simulate(dataclasses.replace(SMALL, drift=drift))
    baseline = simulate(SMALL)
    charges = _by_month(drifted.snapshots, "MonthlyCharges")
    assert charges[3] / charges[2] == pytest.approx(1.15, abs=0.02)
    assert (charges[3:] / charges[2] > 1.12).all()
    pd.testing.assert_frame_equal(
        drifted.snapshots.iloc[: 3 * SMALL.n_customers],
        baseline.snapshots.iloc[: 3 * SMALL.n_customers],
    )
    # Churn reacts to the higher prices through the relative-price term.
    churn_after = _by_month(drifted.truth, "churn_probability")[3]
    assert churn_after > _by_month(baseline.truth, "churn_probability")[3] * 1.2


def test_month_to_month_shift_raises_that_contract_share() -> None:
    drift = DriftSpec(start_month=2, month_to_month_shift=0.1)
    share = _by_month(
        simulate(dataclasses.replace(SMALL, drift=drift)).snapshots, "Contract", "Month-to-month"
    )
    baseline = _by_month(simulate(SMALL).snapshots, "Contract", "Month-to-month")
    assert share[2] - share[1] == pytest.approx(0.1, abs=0.03)
    assert (share[2:] - baseline[2:] > 0.07).all()
    assert share[1] == pytest.approx(baseline[1])


def test_concept_shift_changes_the_churn_function(result: SimulationResult) -> None:
    frame = result.snapshots
    before = churn_probability(frame)
    after = churn_probability(frame, concept_shift=1.0)
    assert not np.allclose(before, after)
    assert np.abs(after - before).mean() > 0.02
    # A frozen model (scoring with the old truth) ranks measurably worse after the shift.
    assert expected_auc(before, after) < expected_bayes_auc(after) - 0.03
    assert expected_auc(before, after) < expected_bayes_auc(before) - 0.02
    # Tech support no longer protects fibre customers.
    # (with the add-on priced in, the slightly higher bill is all that is left).
    fiber = frame[frame["InternetService"] == "Fiber optic"]
    with_ts = churn_probability(_with_tech_support(fiber, "Yes"), concept_shift=1.0)
    without_ts = churn_probability(_with_tech_support(fiber, "No"), concept_shift=1.0)
    assert (with_ts >= without_ts).all()
    assert (with_ts < without_ts * 1.2).all()


def test_concept_shift_is_used_for_the_truth_from_start_month() -> None:
    drift = DriftSpec(start_month=2, concept_shift=0.7)
    drifted = simulate(dataclasses.replace(SMALL, drift=drift))
    frame, truth = drifted.snapshots, drifted.truth
    late = (frame["snapshot_month"] >= frame["snapshot_month"].unique()[2]).to_numpy()
    np.testing.assert_allclose(
        churn_probability(frame[late], concept_shift=0.7), truth.loc[late, "churn_probability"]
    )
    np.testing.assert_allclose(
        churn_probability(frame[~late]), truth.loc[~late, "churn_probability"]
    )


# --------------------------------------------------------------------------- dirty rows


def test_dirty_rows_fail_the_contract_about_at_the_requested_rate(
    schema: pa.DataFrameSchema,
) -> None:
    config = dataclasses.replace(SMALL, dirty_rate=0.02)
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
    clean = simulate(SMALL)
    pd.testing.assert_series_equal(frame.dtypes, clean.snapshots.dtypes)
    pd.testing.assert_frame_equal(dirty.truth, clean.truth)
    changed_rows = (frame.fillna(-1) != clean.snapshots.fillna(-1)).any(axis=1)
    assert changed_rows.sum() == round(0.02 * len(frame))
    assert set(np.flatnonzero(changed_rows)) == set(failing)


# --------------------------------------------------------------------------- files + config


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


@pytest.mark.parametrize(
    "kwargs",
    [{"n_customers": 0}, {"months": 0}, {"dirty_rate": 1.5}, {"start_month": "not a date"}],
)
def test_invalid_config_is_rejected(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        SimulatorConfig(**kwargs)  # type: ignore[arg-type]


def test_invalid_drift_is_rejected() -> None:
    with pytest.raises(ValueError):
        DriftSpec(start_month=1, concept_shift=2.0)
    with pytest.raises(ValueError):
        DriftSpec(start_month=-1)
