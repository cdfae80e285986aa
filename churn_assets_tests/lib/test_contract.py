"""The data contract: loading, roles, derived views, and user-authored contracts."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from churn_assets.lib.contract import BUILTIN_CONTRACT, ContractError, DataContract
from churn_assets.lib.ingestion.readers import read_table
from churn_assets.lib.ingestion.validation import validate_frame
from churn_assets_tests.datasets import SUBSCRIPTION_CONTRACT, subscription_frame


def test_builtin_contract_roles(contract: DataContract) -> None:
    assert contract.name == "telco_customer_churn"
    assert contract.id_column == "customerID"
    assert contract.target.column == "Churn"
    assert (contract.target.positive, contract.target.negative) == ("Yes", "No")
    assert contract.event_time == "snapshot_month"
    assert contract.sensitive == ("gender", "SeniorCitizen")
    # Id, target and snapshot time are never features; sensitive attributes are analysed
    # for fairness but stay features unless excluded.
    assert "customerID" not in contract.feature_columns
    assert "Churn" not in contract.feature_columns
    assert "snapshot_month" not in contract.feature_columns
    assert {"gender", "SeniorCitizen", "tenure"} <= set(contract.feature_columns)
    assert contract.numeric_features == [
        "SeniorCitizen",
        "tenure",
        "MonthlyCharges",
        "TotalCharges",
    ]
    assert "snapshot_month" not in contract.required_columns
    assert contract.allowed_values("Contract") == ("Month-to-month", "One year", "Two year")
    assert contract.value_range("tenure") == (0, 600)
    # The dataset's behavioural expectation travels with its contract.
    assert contract.directions == (
        {
            "field": "Contract",
            "source": "Month-to-month",
            "target": "Two year",
            "expect": "not_increase",
        },
    )


def test_contract_table_describes_every_column(contract: DataContract) -> None:
    table = contract.describe()
    assert list(table["column"]) == contract.columns
    assert table.set_index("column").loc["TotalCharges", "null policy"] == "fill"
    assert table.set_index("column").loc["gender", "role"] == "sensitive feature"
    assert table["description"].str.len().gt(0).all()


def test_contract_env_var_selects_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "subs.yaml"
    path.write_text(SUBSCRIPTION_CONTRACT)
    monkeypatch.setenv("CHURN_CONTRACT", str(path))
    contract = DataContract.load()
    assert contract.name == "streaming_subscriptions"
    assert contract.target.column == "cancelled"
    assert DataContract.load(BUILTIN_CONTRACT).name == "telco_customer_churn"


def test_real_telco_file_loads_unchanged(telco_csv: Path, contract: DataContract) -> None:
    raw = read_table(telco_csv.read_bytes(), telco_csv.name)
    result = validate_frame(raw, contract)
    # The real file has quirks (11 blank TotalCharges for tenure-0 customers), all legal.
    assert len(raw) == 7043
    assert len(result.quarantined) == 0
    assert len(result.valid) == 7043
    blanks = raw["TotalCharges"].str.strip().eq("")
    assert blanks.sum() == 11
    assert (raw.loc[blanks, "tenure"] == "0").all()
    # The contract's null policy fills them with 0.0 (nothing billed yet).
    assert (result.valid.loc[blanks.to_numpy(), "TotalCharges"] == 0.0).all()
    assert result.valid["Churn"].value_counts().to_dict() == {"No": 5174, "Yes": 1869}


def test_second_dataset_validates_with_its_own_contract(tmp_path: Path) -> None:
    path = tmp_path / "subs.yaml"
    path.write_text(SUBSCRIPTION_CONTRACT)
    contract = DataContract.load(path)
    frame = subscription_frame(n=200, months=2)
    frame.loc[3, "plan"] = "gold"
    result = validate_frame(frame, contract)
    assert len(result.valid) == 399
    assert "plan: isin" in result.quarantined.loc[0, "_reasons"]
    assert contract.feature_columns == [
        "plan",
        "region",
        "age_band",
        "monthly_fee",
        "support_tickets",
        "hours_watched",
    ]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("churn_contract:", "other:"), "churn_contract"),
        (lambda t: t.replace("id: account_id", "id: acct"), "unknown column"),
        (lambda t: t.replace('positive: "Y"', 'positive: "YES"'), "allowed values"),
        (lambda t: t.replace("{policy: impute}", "{policy: drop}"), "'impute' or 'fill'"),
        (lambda t: t.replace("{policy: impute}", "{policy: fill}"), "needs a value"),
        (lambda t: t.replace("    target: {", "    tgt: {"), "missing key"),
        (
            lambda t: t.replace(
                "  churn_contract:\n",
                "  churn_contract:\n    behaviour:\n      directions:\n"
                "        - {field: Contract, source: a, target: b}\n",
            ),
            r"`behaviour.directions` names unknown column\(s\) \['Contract'\]",
        ),
    ],
)
def test_invalid_contracts_are_explained(tmp_path: Path, edit, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(edit(SUBSCRIPTION_CONTRACT))
    with pytest.raises(ContractError, match=message):
        DataContract.load(path)


def test_missing_contract_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match=r"nope\.yaml"):
        DataContract.load(tmp_path / "nope.yaml")


def test_target_encoding(contract: DataContract) -> None:
    encoded = contract.target.encode(pd.Series(["Yes", "No", "No"]))
    assert encoded.tolist() == [1, 0, 0]
    with pytest.raises(ValueError, match="undeclared labels"):
        contract.target.encode(pd.Series(["Yes", "Maybe"]))
