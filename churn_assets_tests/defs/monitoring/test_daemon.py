"""The closed loop on the real Dagster daemon, as `make loop` plays it (`churn_assets.scenario`),
kept to a few minutes: three months train the first champion (the fast tuning budget of the
tests), then one drifted month lands. Everything after the first training is the daemon's:
the landing sensor ingests each month, the automation sensor scores and drift-checks it, the
retraining sensor answers the breach with a re-evaluation (one breach never retrains), and
the feeder stops the daemon once the loop is quiet."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from churn_assets.lib.training.families import FAMILIES
from churn_assets.scenario import loop_home
from churn_assets_tests.defs.test_definitions import FAST_TUNING

pytestmark = pytest.mark.slow


def test_the_daemon_closes_the_loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "loop"
    env = {**os.environ, **loop_home(home)}
    tuning = {"ops": {f"tuned_{family}": {"config": FAST_TUNING} for family in FAMILIES}}
    command = [sys.executable, "-m", "churn_assets.scenario", "--customers", "3000"]
    command += ["--months", "4", "--initial", "3", "--drift-from", "3", "--seed", "21"]
    command += ["--run-config", json.dumps(tuning), "--timeout", "900"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, done.stderr[-4000:] + (home / "daemon.log").read_text()[-4000:]
    summary = json.loads(done.stdout[done.stdout.index("{") :])

    assert {month: v["breached"] for month, v in summary["drift"].items()} == {
        "2026-01": False,
        "2026-02": False,
        "2026-03": False,
        "2026-04": True,
    }
    assert summary["triggered"] == ["champion_reevaluation:reevaluate"]
    assert (summary["bento"], summary["runs"]["failed"]) == ("churn_service:v1", 0)

    # Each run was launched by the daemon's sensors, not by the feeder.
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    with dg.DagsterInstance.get() as instance:
        runs = [r.dagster_run for r in instance.get_run_records()]
    launched = sorted((r.job_name, r.tags.get("dagster/sensor_name", "")) for r in runs)
    assert (
        launched
        == [
            ("__ASSET_JOB", "monitoring_automation"),  # batch_scores + drift_report, one month each
        ]
        * 4
        + [("champion_reevaluation", "retrain_sensor"), ("churn_pipeline", "")]
        + [("ingest_batch", "landing_sensor")] * 4
    )
    # The daemon is gone: the feeder stopped it.
    assert "dagster-daemon stopped" in done.stderr
