"""Simulations shared by the simulator's tests (each is computed once per session)."""

from __future__ import annotations

import pandera.pandas as pa
import pytest

from churn_assets.lib.contract import BUILTIN_CONTRACT
from churn_assets.lib.ingestion.simulator import SimulationResult, SimulatorConfig, simulate


@pytest.fixture(scope="session")
def small() -> SimulatorConfig:
    """A small configuration that still shows every effect."""
    return SimulatorConfig(n_customers=3000, months=6, seed=7)


@pytest.fixture(scope="session")
def schema() -> pa.DataFrameSchema:
    """The built-in Telco contract as a plain Pandera schema."""
    return pa.DataFrameSchema.from_yaml(BUILTIN_CONTRACT)


@pytest.fixture(scope="session")
def result(small: SimulatorConfig) -> SimulationResult:
    """The simulation of :func:`small`."""
    return simulate(small)


@pytest.fixture(scope="session")
def default_result() -> SimulationResult:
    """The simulation of the default configuration."""
    return simulate(SimulatorConfig())
