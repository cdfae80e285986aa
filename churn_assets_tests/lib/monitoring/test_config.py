"""Monitoring defaults, declared once: the module the resource reads while definitions load
stays import-light, and the sensors' interval setting is read strictly."""

from __future__ import annotations

import subprocess
import sys

import pytest

from churn_assets.lib.monitoring.config import (
    DEFAULT_BREACH_WHEN,
    MONTH_CHECKS,
    SENSOR_INTERVAL_ENV_VAR,
    SIGNALS,
    sensor_interval_seconds,
)


def test_import_is_light() -> None:
    probe = (
        "import sys, churn_assets.lib.monitoring.config;"
        "print(','.join(m for m in ('numpy', 'pandas', 'dagster') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


@pytest.mark.parametrize(
    ("raw", "seconds"), [(None, 30), ("", 30), ("5", 5), (" 12 ", 12), ("0", 1), ("-3", 1)]
)
def test_sensor_interval(raw: str | None, seconds: int) -> None:
    environ = {} if raw is None else {SENSOR_INTERVAL_ENV_VAR: raw}
    assert sensor_interval_seconds(environ) == seconds


def test_sensor_interval_refuses_what_is_not_whole_seconds() -> None:
    with pytest.raises(ValueError, match=SENSOR_INTERVAL_ENV_VAR):
        sensor_interval_seconds({SENSOR_INTERVAL_ENV_VAR: "5s"})


def test_every_check_and_rule_names_a_signal() -> None:
    assert {limit for limit, _ in MONTH_CHECKS.values()} == set(SIGNALS)
    assert {s for clause in DEFAULT_BREACH_WHEN for s in clause} <= set(SIGNALS)
