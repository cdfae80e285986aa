"""The closed loop on the team stack, driven by the real `dagster-daemon` on Postgres: monthly
files land in the bucket, and everything after the first training is the daemon's (the landing
sensor ingests each month, the automation sensor scores and drift-checks it, two breaches
retrain, the gate decides, the bento follows). Asserted from the Postgres event log. The
feeder is `churn_assets.scenario` (what `make loop` plays locally) with --external-daemon."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from churn_assets.lib import settings
from churn_assets.scenario import LOOP_SETTINGS
from churn_assets.team.report import bucket_keys
from churn_assets.team.services import free_port
from churn_assets.team.stack import Ports, TeamStack
from churn_assets_tests.team.conftest import small_data_ops, team_root

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]


@pytest.fixture(scope="module")
def loop_stack() -> Iterator[TeamStack]:
    """A stack of its own: its daemon reads the landing prefix and ticks every 5 s. Its runs
    execute their steps in the run worker's process (``CHURN_EXECUTOR=in_process``, the
    option's end-to-end test): this test is about what the daemon decides and launches, and
    saves a process per step in each of its dozen runs; the team tests on the session stack
    run the default executor (and test_step_isolation holds every step apart)."""
    stack = TeamStack(
        team_root("loop"),
        Ports(s3=free_port(), mlflow=free_port(), ui=free_port()),
        data_uri="s3://churn/landing",
        extra_env={**LOOP_SETTINGS, settings.EXECUTOR_ENV_VAR: "in_process"},
    )
    try:
        stack.up()
        yield stack
    finally:
        stack.down()
        shutil.rmtree(stack.root, ignore_errors=True)


def test_the_daemon_closes_the_loop_on_the_team_stack(
    loop_stack: TeamStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, record_property
) -> None:
    env = {**loop_stack.process_env(), "CHURN_HOME": str(tmp_path / "feeder")}
    tuning = {"ops": small_data_ops()}
    command = [sys.executable, "-m", "churn_assets.scenario", "--external-daemon"]
    command += ["--customers", "3000", "--months", "5", "--initial", "3"]
    command += ["--drift-from", "3", "--seed", "21"]
    command += ["--run-config", json.dumps(tuning), "--timeout", "900"]
    started = time.monotonic()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=2200)
    seconds = time.monotonic() - started
    daemon_log = (loop_stack.root / "logs" / "dagster-daemon.log").read_text()[-4000:]
    assert done.returncode == 0, done.stderr[-4000:] + daemon_log
    summary = json.loads(done.stdout[done.stdout.index("{") :])
    record_property("loop_seconds", round(seconds))

    assert {month: v["breached"] for month, v in summary["drift"].items()} == {
        "2026-01": False,
        "2026-02": False,
        "2026-03": False,
        "2026-04": True,
        "2026-05": True,
    }
    # Two breaches of the last three retrain; the gate decided and the bento followed it.
    assert "churn_pipeline:retrain" in summary["triggered"]
    assert summary["runs"]["failed"] == 0
    assert summary["promotion"]["outcome"] in {"promoted", "rejected"}

    # Asserted from the Postgres event log: every run was the daemon's (sensors), but the
    # feeder's first training.
    for name, value in loop_stack.env().items():
        monkeypatch.setenv(name, value)
    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        runs = [r.dagster_run for r in instance.get_run_records()]
        bentos = instance.fetch_materializations(dg.AssetKey("churn_bento"), limit=10).records
    by_sensor = sorted({r.tags.get("dagster/sensor_name", "") for r in runs})
    assert by_sensor == ["", "landing_sensor", "monitoring_automation", "retrain_sensor"]
    assert sum(r.tags.get("dagster/sensor_name") == "landing_sensor" for r in runs) == 5
    assert len(bentos) == 2  # the first champion's, then the retrained run's
    # The months landed in the bucket, and the bentos were exported to it.
    assert len(bucket_keys(loop_stack, "landing/")) == 5
    assert bucket_keys(loop_stack, "storage/bentos/")
