"""Sensor ticks the way the daemon runs them, for the monitoring tests."""

from __future__ import annotations

from typing import Any

import dagster as dg
import pytest


def tick(defs: dg.Definitions, name: str, instance: dg.DagsterInstance, cursor: str | None):
    """Evaluate a sensor once; return its result and the cursor the daemon would store."""
    sensor = defs.resolve_sensor_def(name)
    # Only the resources the sensor asks for, as the daemon does (setting up all of them
    # would create an MLflow store per tick).
    needed = sensor.required_resource_keys
    resources = {k: v for k, v in (defs.resources or {}).items() if k in needed}
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, definitions=defs, resources=resources
    )
    result = sensor(context)
    if isinstance(result, dg.SensorResult) and result.cursor is not None:
        return result, result.cursor
    return result, context.cursor


def alerts(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [r.alert for r in caplog.records if hasattr(r, "alert")]
