"""Shared by the training tests: a small simulated month pair, split and encoded by the
fitted preprocessing; a fresh Optuna database per test on the session's real Postgres (``pg``,
the root conftest)."""

from __future__ import annotations

import itertools
import os
from typing import Any

import numpy as np
import pandas as pd
import pytest

from churn_assets.lib.contract import DataContract
from churn_assets.lib.features.engineering import TARGET_COL, build_feature_table
from churn_assets.lib.features.preprocessing import build_preprocessor, model_input_columns
from churn_assets.lib.features.split import split_frame
from churn_assets.lib.ingestion.simulator import SimulatorConfig, simulate
from churn_assets.lib.ingestion.validation import validate_frame
from churn_assets.team import postgres

_databases = itertools.count()


@pytest.fixture(scope="session")
def splits(contract: DataContract) -> dict[str, pd.DataFrame]:
    frame = simulate(SimulatorConfig(n_customers=700, months=2, seed=21)).snapshots
    table = build_feature_table(validate_frame(frame, contract).valid, contract)
    return split_frame(table, contract, seed=0)


@pytest.fixture(scope="session")
def prepared(
    splits: dict[str, pd.DataFrame], contract: DataContract
) -> tuple[Any, list[str], np.ndarray, np.ndarray]:
    """The fitted preprocessing, the model's input columns, encoded training rows, labels."""
    columns = model_input_columns(contract)
    preprocessor = build_preprocessor(contract).fit(splits["train"][columns])
    X = preprocessor.transform(splits["train"][columns])
    return preprocessor, columns, X, splits["train"][TARGET_COL].to_numpy()


@pytest.fixture
def optuna_url(pg: postgres.Postgres) -> str:
    """A fresh database per test: studies of one test never meet another's."""
    return pg.create_database(f"optuna_{os.getpid()}_{next(_databases)}")
