"""Invalid simulator and drift settings are rejected."""

from __future__ import annotations

import pytest

from churn_assets.lib.ingestion.simulator import (
    DriftSpec,
    SimulatorConfig,
)


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
