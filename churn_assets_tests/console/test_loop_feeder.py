"""The loop's feeder waits for a drift report while the loop makes progress, however slow the
machine, and gives up on a stall (no run logging anything for its timeout) with an error that
says so. On a loaded CI machine the first training of the team loop once took longer than the
feeder's fixed 15-minute deadline, and the loop failed with nothing wrong but the clock."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from churn_assets.scenario import Feeder, ScenarioError

MONTH = "2026-03"


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.local_temp(str(tmp_path)) as instance:
        yield instance


def _busy(instance: dg.DagsterInstance, seconds: float, then_report: bool) -> threading.Thread:
    """Something logs an event every 0.2 s for ``seconds``, then (optionally) the month's drift
    report materializes: a slow but live loop."""

    def work() -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            instance.report_runless_asset_event(dg.AssetObservation("tuned_xgboost"))
            time.sleep(0.2)
        if then_report:
            event = dg.AssetMaterialization("drift_report", partition=MONTH)
            instance.report_runless_asset_event(event)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


def test_a_slow_loop_that_keeps_logging_is_waited_for_past_the_timeout(
    instance: dg.DagsterInstance,
) -> None:
    feeder = Feeder(instance, landing=None, interval=0, timeout=1.5)
    since = time.time() - 1
    worker = _busy(instance, seconds=4, then_report=True)
    started = time.monotonic()
    feeder.settle([MONTH], since)
    assert time.monotonic() - started > 3.5  # more than twice the timeout, and no error
    worker.join()


def test_a_stalled_loop_is_given_up_naming_what_is_missing(instance: dg.DagsterInstance) -> None:
    feeder = Feeder(instance, landing=None, interval=0, timeout=1.5)
    worker = _busy(instance, seconds=1, then_report=False)
    started = time.monotonic()
    with pytest.raises(ScenarioError) as raised:
        feeder.settle([MONTH], time.time() - 1)
    # Given up 1.5 s after the last event (about 1 s in), not 1.5 s after the start.
    assert time.monotonic() - started > 2.3
    message = str(raised.value)
    assert f"no drift report for ['{MONTH}']" in message
    assert "nothing logged for 2 s" in message
    assert "active runs: none" in message
    worker.join()
