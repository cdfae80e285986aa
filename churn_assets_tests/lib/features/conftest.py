"""The feature table shared by the features tests (built once per session)."""

from __future__ import annotations

import pandas as pd
import pytest

from churn_assets.lib.contract import DataContract
from churn_assets.lib.features.engineering import build_feature_table
from churn_assets.lib.ingestion.simulator import SimulatorConfig, simulate
from churn_assets.lib.ingestion.validation import validate_frame


@pytest.fixture(scope="session")
def table(contract: DataContract) -> pd.DataFrame:
    """Four months of 1,500 simulated customers as a feature table."""
    frame = simulate(SimulatorConfig(n_customers=1500, months=4, seed=11)).snapshots
    return build_feature_table(validate_frame(frame, contract).valid, contract)
