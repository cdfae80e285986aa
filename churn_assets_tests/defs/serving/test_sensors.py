"""serving_consistency: a registry/served mismatch is alerted once, with the fix, and mended by
one deploy_champion run; mid-run (a writing run in progress) it waits."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from churn_assets.definitions import defs as load_defs
from churn_assets.defs.jobs import TRAINING_GRAPH
from churn_assets.lib.registry import aliases
from churn_assets_tests.defs.monitoring.ticks import alerts, tick
from churn_assets_tests.lib.registry.registry_store import NAME, copy_of, template


def _why(result: dg.SensorResult | dg.SkipReason) -> str:
    skip = result.skip_reason if isinstance(result, dg.SensorResult) else result
    return str(skip.skip_message if isinstance(skip, dg.SkipReason) else skip)


@pytest.fixture
def home(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    import mlflow

    home = copy_of(template(tmp_path_factory), tmp_path / "home")
    monkeypatch.setenv("CHURN_HOME", str(home))
    yield home
    mlflow.set_tracking_uri(None)
    os.environ.pop("MLFLOW_TRACKING_URI", None)


def test_a_pending_move_is_alerted_once_and_relaunched(
    home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    defs = load_defs()
    with dg.instance_for_test() as instance:
        quiet, cursor = tick(defs, "serving_consistency", instance, None)
        assert "v1 is what every place serves" in _why(quiet)

        aliases.request_promotion(NAME, "2", "gate", "passed", {})
        run = dg.DagsterRun(job_name="churn_pipeline", tags=TRAINING_GRAPH)
        instance.add_run(run.with_status(dg.DagsterRunStatus.STARTED))
        waiting, cursor = tick(defs, "serving_consistency", instance, cursor)
        assert "in progress" in _why(waiting) and not alerts(caplog)

        instance.report_run_failed(instance.get_run_by_id(run.run_id))
        found, cursor = tick(defs, "serving_consistency", instance, cursor)
        [request] = found.run_requests
        assert request.tags == TRAINING_GRAPH and request.run_key.startswith("reconcile-")
        [alert] = [a for a in alerts(caplog) if "disagree" in a["title"]]
        assert "promote to v2" in alert["text"] and "materialize churn_bento" in alert["text"]

        caplog.clear()
        again, _ = tick(defs, "serving_consistency", instance, cursor)
        assert not getattr(again, "run_requests", None) and not alerts(caplog)
