"""A dataset the platform has never seen, with nothing but its contract file: a bank's customers,
a numeric sensitive `age`, engineered features declared in the contract. The whole graph runs,
from the raw file to the gate's decision and the bento step, with no code change."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from churn_assets.lib.console.facts import markdown_rows
from churn_assets_tests.datasets import write_bank_dataset
from churn_assets_tests.defs.test_definitions import ALL_ASSETS, TRAINING, materialized, run

DECLARED = ["balance_to_salary", "log_balance", "has_balance", "tenure_stage", "engagement"]


def test_a_bank_dataset_runs_end_to_end_with_only_a_contract(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, churn_home: Path
) -> None:
    contract, data = write_bank_dataset(tmp_path / "bank")
    monkeypatch.setenv("CHURN_CONTRACT", str(contract))
    monkeypatch.setenv("CHURN_DATA_URI", str(data))
    result = run(["customer_source", *ALL_ASSETS, *TRAINING, "churn_bento"])
    assert result.success  # whatever the gate decides, a decision is not a failure
    done = materialized(result)

    # The declared features are columns of the feature table, computed from the contract.
    features = pd.read_parquet(churn_home / "storage" / "customer_features.parquet")
    assert set(DECLARED) <= set(features.columns)
    assert set(features["tenure_stage"]) <= {"new", "settling", "loyal"}
    assert features["engagement"].between(0, 3).all()

    # The numeric sensitive attribute is judged in the contract's age bands, not as 65 groups
    # of a few customers each; every group is named by its band.
    groups = [
        r for r in markdown_rows(done["fairness_report"]["by_group"]) if r["attribute"] == "age"
    ]
    assert 2 <= len(groups) <= 4, groups
    assert all("-" in r["group"] for r in groups), groups
    summary = {r["attribute"]: r for r in markdown_rows(done["fairness_report"]["summary"])}
    assert summary["age"]["criterion"] == "equal_opportunity"

    # The gate decided and recorded it; the bento step built the champion or said why not.
    decision = done["promotion_decision"]
    assert decision["outcome"] in {"promoted", "rejected"}
    if decision["outcome"] == "promoted":
        assert done["churn_bento"]["champion_version"] == decision["challenger_version"]
    else:
        assert "churn_bento" not in done and decision["failed_criteria"] != "none"
