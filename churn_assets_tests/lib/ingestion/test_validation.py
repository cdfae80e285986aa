"""Validation: every bad row is quarantined with a reason; nothing is dropped silently."""

from __future__ import annotations

import pandas as pd
import pytest

from churn_assets.lib.contract import DataContract
from churn_assets.lib.ingestion.simulator import SimulatorConfig, simulate
from churn_assets.lib.ingestion.validation import (
    REASONS_COL,
    MissingColumnsError,
    class_counts,
    contract_failures,
    missing_columns,
    validate_frame,
)


@pytest.fixture(scope="module")
def clean() -> pd.DataFrame:
    frame = simulate(SimulatorConfig(n_customers=300, months=2, seed=5)).snapshots
    # As text, the way a CSV arrives.
    return frame.astype({c: str for c in frame.columns if c != "TotalCharges"}).assign(
        TotalCharges=frame["TotalCharges"].map(lambda v: "" if pd.isna(v) else str(v))
    )


def test_clean_data_passes_whole(clean: pd.DataFrame, contract: DataContract) -> None:
    result = validate_frame(clean, contract)
    assert len(result.valid) == len(clean)
    assert result.quarantined.empty
    assert result.valid["tenure"].dtype == "int64"
    assert result.valid["MonthlyCharges"].dtype == "float64"
    assert str(result.valid["snapshot_month"].dtype) == "datetime64[ns]"
    assert result.valid["TotalCharges"].notna().all()  # null policy "fill"


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("tenure", "twelve", "tenure: coerce_dtype"),
        ("tenure", "-1", "tenure: in_range"),
        ("MonthlyCharges", "5000", "MonthlyCharges: in_range"),
        ("Contract", "Three year", "Contract: isin"),
        ("InternetService", "Fibre", "InternetService: isin"),
        ("gender", "", "gender: null in a non-nullable column"),
        ("Churn", "Maybe", "Churn: isin"),
        ("SeniorCitizen", "2", "SeniorCitizen: isin"),
        ("snapshot_month", "not a date", "snapshot_month: coerce_dtype"),
    ],
)
def test_bad_values_are_quarantined_with_reasons(
    clean: pd.DataFrame, contract: DataContract, column: str, value: str, reason: str
) -> None:
    bad = clean.copy()
    bad.loc[7, column] = value
    result = validate_frame(bad, contract)
    assert len(result.valid) + len(result.quarantined) == len(bad)
    assert len(result.quarantined) == 1
    row = result.quarantined.iloc[0]
    assert row["customerID"] == clean.loc[7, "customerID"]
    assert reason in row[REASONS_COL]
    assert row["_line"] == 8  # no lineage given: 1-based row number


def test_several_problems_in_one_row_are_all_reported(
    clean: pd.DataFrame, contract: DataContract
) -> None:
    bad = clean.copy()
    bad.loc[3, ["tenure", "Contract", "PaymentMethod"]] = ["abc", "Weekly", "Cash"]
    result = validate_frame(bad, contract)
    reasons = result.quarantined.loc[0, REASONS_COL]
    for column in ("tenure", "Contract", "PaymentMethod"):
        assert f"{column}:" in reasons


def test_coercion_failures_do_not_hide_range_failures(
    clean: pd.DataFrame, contract: DataContract
) -> None:
    # A coercion failure in a column stops Pandera's other checks on it; the second pass
    # must still catch the out-of-range row.
    bad = clean.copy()
    bad.loc[1, "tenure"] = "x"
    bad.loc[2, "tenure"] = "9999"
    result = validate_frame(bad, contract)
    assert len(result.quarantined) == 2
    assert result.reason_counts().set_index("problem")["rows"].sum() == 2


def test_duplicates_within_a_snapshot_keep_the_first(
    clean: pd.DataFrame, contract: DataContract
) -> None:
    bad = pd.concat([clean, clean.iloc[[10]]], ignore_index=True)
    result = validate_frame(bad, contract)
    assert len(result.valid) == len(clean)
    assert len(result.quarantined) == 1
    assert "duplicate" in result.quarantined.loc[0, REASONS_COL]
    # The same customer in another month is not a duplicate.
    assert clean["customerID"].duplicated().any()


def test_missing_required_columns_are_named(clean: pd.DataFrame, contract: DataContract) -> None:
    partial = clean.drop(columns=["tenure", "Contract"])
    assert missing_columns(partial, contract) == ["tenure", "Contract"]
    with pytest.raises(MissingColumnsError, match=r"\['tenure', 'Contract'\]"):
        validate_frame(partial, contract, source="landing/jan.csv")


def test_optional_columns_may_be_absent(clean: pd.DataFrame, contract: DataContract) -> None:
    one_month = clean[clean["snapshot_month"] == clean["snapshot_month"].iloc[0]]
    result = validate_frame(one_month.drop(columns="snapshot_month"), contract)
    assert len(result.valid) == len(one_month)
    assert "snapshot_month" not in result.valid


def test_extra_columns_are_reported_not_kept(clean: pd.DataFrame, contract: DataContract) -> None:
    result = validate_frame(clean.assign(notes="x"), contract)
    assert result.ignored_columns == ["notes"]
    assert "notes" not in result.valid


def test_parse_errors_are_quarantined(clean: pd.DataFrame, contract: DataContract) -> None:
    raw = clean.assign(_source="jan.csv", _line=range(2, len(clean) + 2), _parse_error=None)
    raw.loc[4, "_parse_error"] = "malformed CSV line: expected 22 fields, got 3: 'a,b,c'"
    result = validate_frame(raw, contract)
    assert len(result.quarantined) == 1
    assert result.quarantined.loc[0, "_source"] == "jan.csv"
    assert result.quarantined.loc[0, "_line"] == 6
    assert result.counts() == {
        "rows_received": len(clean),
        "rows_valid": len(clean) - 1,
        "rows_quarantined": 1,
        "rejected_share": 1 / len(clean),
        "files_received": 1,
        "files_rejected": 0,
        "rejected_file_share": 0.0,
    }
    assert result.reason_counts().loc[0, "problem"] == (
        "malformed CSV line: expected 22 fields, got 3"
    )


def test_dirty_simulation_is_accounted_for_row_by_row(contract: DataContract) -> None:
    frame = simulate(SimulatorConfig(n_customers=1000, months=3, dirty_rate=0.03)).snapshots
    result = validate_frame(frame, contract)
    assert len(result.valid) + len(result.quarantined) == len(frame)
    assert result.rejected_share == pytest.approx(0.03, abs=0.006)
    assert result.quarantined[REASONS_COL].str.len().gt(0).all()


def test_contract_failures_of_a_stored_table(clean: pd.DataFrame, contract: DataContract) -> None:
    valid = validate_frame(clean, contract).valid
    assert contract_failures(valid, contract).empty
    broken = valid.copy()
    broken.loc[3, "tenure"] = -5
    cases = contract_failures(broken, contract)
    assert list(cases.columns) == ["column", "check", "failure_case", "index"]
    assert cases[["column", "index"]].values.tolist() == [["tenure", 3]]


def test_class_counts(clean: pd.DataFrame, contract: DataContract) -> None:
    positives, negatives = class_counts(clean, contract)
    assert positives == (clean["Churn"] == "Yes").sum() > 0
    assert positives + negatives == len(clean)


@pytest.mark.parametrize("typed", [False, True], ids=["text", "float"])
def test_fractions_in_an_integer_column_are_quarantined_not_truncated(
    clean: pd.DataFrame, contract: DataContract, typed: bool
) -> None:
    """`tenure` 2.5 is quarantined (a cast would make it 2); 3.0 is the whole number 3 and
    passes, whether it arrives as text (a CSV) or as a float (Parquet with nulls)."""
    bad = clean.head(20).copy()
    if typed:
        bad["tenure"] = bad["tenure"].astype(float)
    bad.loc[[2, 5], "tenure"] = [2.5, 3.0] if typed else ["2.5", "3.0"]
    result = validate_frame(bad, contract)
    assert len(result.quarantined) == 1
    row = result.quarantined.iloc[0]
    assert row["customerID"] == bad.loc[2, "customerID"]
    assert "tenure: not a whole number (got " in row[REASONS_COL] and "2.5" in row[REASONS_COL]
    assert row["tenure"] == "2.5"  # as received
    assert result.valid["tenure"].dtype == "int64"
    assert bad.loc[5, "customerID"] in set(result.valid["customerID"])
    assert result.valid.set_index("customerID").loc[bad.loc[5, "customerID"], "tenure"] == 3
    assert result.reason_counts()["problem"].tolist() == ["tenure: not a whole number"]


def test_a_file_rejected_whole_counts_as_a_file(
    clean: pd.DataFrame, contract: DataContract
) -> None:
    from churn_assets.lib.ingestion.readers import rejected_file_row

    months = [
        clean.iloc[i * 50 : (i + 1) * 50].assign(_source=f"m{i}.csv", _line=range(2, 52))
        for i in range(9)
    ]
    raw = pd.concat([*months, rejected_file_row("m9.csv", "m9.csv: the file is empty")])
    result = validate_frame(
        raw.assign(_parse_error=raw["_parse_error"].where(raw["_line"] == 0)), contract
    )
    assert result.rejected_files == {"m9.csv": "whole file rejected: m9.csv: the file is empty"}
    assert (result.files_received, result.rejected_file_share) == (10, 0.1)
    assert result.rejected_share < 0.05  # one row of 451...
    assert not result.within_limit(0.05)  # ...but one file of ten
    assert result.quarantined.loc[0, "_line"] == 0
    assert "whole file rejected" in result.quarantined.loc[0, REASONS_COL]
