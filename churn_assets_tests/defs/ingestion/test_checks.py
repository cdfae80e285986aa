"""The contract's blocking checks, invoked directly on small tables."""

from __future__ import annotations

import pandas as pd
import pytest

from churn_assets.defs.ingestion.checks import conforms_to_contract, target_has_both_classes
from churn_assets.defs.resources import ChurnPlatform
from churn_assets.lib.contract import DataContract
from churn_assets.lib.ingestion.simulator import SimulatorConfig, simulate
from churn_assets.lib.ingestion.validation import MIN_ROWS_PER_CLASS, validate_frame


@pytest.fixture(scope="module")
def validated(contract: DataContract) -> pd.DataFrame:
    frame = simulate(SimulatorConfig(n_customers=400, months=1, seed=2)).snapshots
    return validate_frame(frame, contract).valid


def test_conforms_to_contract_reports_failure_cases(validated: pd.DataFrame) -> None:
    platform = ChurnPlatform()
    assert conforms_to_contract(platform=platform, validated_customers=validated).passed
    broken = validated.assign(tenure=validated["tenure"].where(validated.index != 5, -1))
    result = conforms_to_contract(platform=platform, validated_customers=broken)
    assert not result.passed
    assert result.metadata["value"].value == 1
    assert "tenure" in result.metadata["failure_cases"].value


def test_target_needs_enough_rows_of_each_label(validated: pd.DataFrame) -> None:
    platform = ChurnPlatform()
    assert target_has_both_classes(platform=platform, validated_customers=validated).passed
    churners = validated.index[validated["Churn"] == "Yes"]
    few = validated.drop(index=churners[MIN_ROWS_PER_CLASS - 1 :])
    result = target_has_both_classes(platform=platform, validated_customers=few)
    assert not result.passed
    assert result.metadata["value"].value == MIN_ROWS_PER_CLASS - 1
    assert result.metadata["threshold"].value == MIN_ROWS_PER_CLASS
