"""Shared by the training tests: a small simulated month pair, split and encoded by the
fitted preprocessing; a real Postgres (pgserver) with a fresh Optuna database per test."""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
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


@pytest.fixture(scope="session")
def pg() -> Iterator[postgres.Postgres]:
    """One Postgres for the session (started in about a second), stopped after it.

    Its data lives outside pytest's temporary root: as root, pgserver runs Postgres as the
    ``pgserver`` user, and any pytest session starting meanwhile resets that root to 0700,
    which would lock the server out of its own data folder.
    """
    data_dir = Path(tempfile.mkdtemp(prefix="churn-pg-")) / "data"
    server = postgres.start(data_dir, keep_running=False)
    try:
        yield server
    finally:
        postgres.stop(data_dir)
        shutil.rmtree(data_dir.parent, ignore_errors=True)


@pytest.fixture
def optuna_url(pg: postgres.Postgres) -> str:
    """A fresh database per test: studies of one test never meet another's."""
    return pg.create_database(f"optuna_{os.getpid()}_{next(_databases)}")
