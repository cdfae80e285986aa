"""Privacy rules from the contract: defaults, keyed pseudonyms, and invalid mappings."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from churn_assets.lib.contract import ContractError, DataContract
from churn_assets.lib.privacy import PRIVACY_KEY_ENV_VAR, pseudonym
from churn_assets_tests.datasets import SUBSCRIPTION_CONTRACT


def test_builtin_contract_hashes_ids_and_drops_sensitive_fields(contract: DataContract) -> None:
    policy = contract.privacy
    frame = pd.DataFrame(
        {"customerID": ["0001-A", None], "gender": ["Female", "Male"], "tenure": [3, 4]}
    )
    shown = policy.apply_frame(frame, "previews")
    assert list(shown.columns) == ["customerID", "tenure"]
    assert shown["customerID"].iloc[0] == pseudonym("0001-A")
    assert (
        shown["customerID"].iloc[0].startswith("h:") and "0001" not in shown["customerID"].iloc[0]
    )
    assert shown["customerID"].iloc[1] is None
    assert frame["customerID"].iloc[0] == "0001-A"  # the input is not modified
    record = policy.apply_record(
        {"customerID": "0001-A", "SeniorCitizen": 1, "tenure": 3}, "prediction_log"
    )
    assert record == {"customerID": pseudonym("0001-A"), "tenure": 3}
    assert policy.prediction_log.retention_days == 30
    assert policy.quarantine_retention_days == 90


def test_pseudonyms_are_keyed(monkeypatch: pytest.MonkeyPatch) -> None:
    unkeyed = pseudonym("0001-A")
    monkeypatch.setenv(PRIVACY_KEY_ENV_VAR, "a deployment secret")
    keyed = pseudonym("0001-A")
    assert keyed != unkeyed and keyed == pseudonym("0001-A")  # stable under one key
    assert pseudonym("0001-A", key=b"another") != keyed


def _with_privacy(tmp_path: Path, block: str) -> Path:
    path = tmp_path / "subs.yaml"
    text = SUBSCRIPTION_CONTRACT.replace("  churn_contract:\n", "  churn_contract:\n" + block, 1)
    assert text != SUBSCRIPTION_CONTRACT
    path.write_text(text)
    return path


def test_contract_can_keep_fields_and_name_more_identifiers(tmp_path: Path) -> None:
    block = (
        "    privacy:\n"
        "      identifiers: [age_band]\n"
        "      prediction_log: {identifiers: drop, sensitive: keep, retention_days: 7}\n"
    )
    policy = DataContract.load(_with_privacy(tmp_path, block)).privacy
    assert policy.action("prediction_log", "age_band") == "drop"
    assert policy.action("previews", "age_band") == "hash"  # previews keep their default
    assert policy.prediction_log.retention_days == 7


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ("    privacy:\n      previews: {identifiers: mask}\n", "must be one of"),
        ("    privacy:\n      logs: {}\n", "unknown `privacy` key"),
        ("    privacy:\n      identifiers: [email]\n", "unknown"),
        ("    privacy:\n      quarantine: {retention_days: 0}\n", "whole number of days"),
        ("    privacy:\n      prediction_log: {ttl: 3}\n", "unknown `privacy.prediction_log`"),
    ],
)
def test_invalid_privacy_mappings_are_explained(tmp_path: Path, block: str, message: str) -> None:
    with pytest.raises(ContractError, match=message):
        DataContract.load(_with_privacy(tmp_path, block))
