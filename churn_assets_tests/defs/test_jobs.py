"""Job wiring for a real daemon: the run-queue tag, step retries that spare data errors, and
the executor chosen by configuration."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import yaml

from churn_assets.definitions import defs as load_defs
from churn_assets.defs.jobs import WRITES_TAG
from churn_assets.lib import settings
from churn_assets.team.stack import REPO, TEAM_DAGSTER_YAML

DAGSTER_YAML = REPO / "dagster.yaml"


def test_the_jobs_that_write_the_training_graph_share_one_queue_tag() -> None:
    """dagster.yaml limits this tag to one run at a time (test_run_queue.py runs it)."""
    defs = load_defs()
    tagged = {job.name for job in defs.resolve_all_job_defs() if WRITES_TAG in job.tags}
    assert tagged == {"churn_pipeline", "rollback_champion", "deploy_champion", "approve_candidate"}
    limits = yaml.safe_load(DAGSTER_YAML.read_text())["concurrency"]["runs"]
    team = yaml.safe_load(TEAM_DAGSTER_YAML.read_text())["concurrency"]["runs"]
    assert {"key": WRITES_TAG, "limit": 1} in limits["tag_concurrency_limits"]
    assert {"key": WRITES_TAG, "limit": 1} in team["tag_concurrency_limits"]
    job = defs.resolve_job_def("churn_pipeline")
    assert job.op_retry_policy is not None and job.op_retry_policy.max_retries == 2


@pytest.mark.parametrize("selection", [["raw_customers"], ["customer_source", "raw_customers"]])
def test_a_data_error_fails_at_once_instead_of_being_retried(
    churn_home: Path, monkeypatch: pytest.MonkeyPatch, selection: list[str]
) -> None:
    """Also when the run starts by observing the source (as churn_pipeline does)."""
    monkeypatch.setenv("CHURN_DATA_URI", str(churn_home / "no-such-file.csv"))
    job = load_defs().resolve_job_def("churn_pipeline")
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(
            instance=instance,
            asset_selection=[dg.AssetKey(key) for key in selection],
            raise_on_error=False,
        )
    assert not result.success
    kinds = [event.event_type for event in result.all_events]
    assert dg.DagsterEventType.STEP_UP_FOR_RETRY not in kinds
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "no-such-file.csv" in failure.step_failure_data.error.message


def test_chosen_executor_follows_the_environment(churn_home: Path) -> None:
    """Read when the definitions load: one fresh process per setting; a value that names no
    executor stops the load with the allowed ones."""
    probe = (
        "import json; from churn_assets.definitions import defs; "
        "job = defs().resolve_job_def('churn_pipeline'); "
        "print(json.dumps(job.executor_def.name))"
    )
    names = {}
    for value in ("", "k8s", "in_process", "IN_PROCESS", "kubernetes"):
        env = {**os.environ, settings.EXECUTOR_ENV_VAR: value}
        done = subprocess.run(
            [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=False
        )
        names[value] = (
            json.loads(done.stdout.strip().splitlines()[-1])
            if done.returncode == 0
            else done.stderr
        )
    assert names["k8s"] == "k8s"
    assert names[""] == "multi_or_in_process_executor"
    assert names["in_process"] == names["IN_PROCESS"] == "in_process"
    assert "CHURN_EXECUTOR='kubernetes' is not an executor" in names["kubernetes"]
    assert "`in_process` or `k8s`" in names["kubernetes"]


def test_steps_fork_from_a_server_that_imported_the_libraries_and_started_no_thread() -> None:
    """A fork copies only the forking thread: a thread started by an import in the forkserver
    (a pool, a flusher) would be missing, holding its locks, in every step's process."""
    from churn_assets.defs import jobs

    config = jobs.churn_pipeline.config["execution"]["config"]["multiprocess"]
    # The monitoring and deployment runs the sensors launch start their steps the same way.
    for job in (jobs.ingest_batch, jobs.drift_check, jobs.champion_reevaluation):
        assert job.config == jobs.churn_pipeline.config, job.name
    (preload,) = config["start_method"]["forkserver"]["preload_modules"]
    probe = (
        f"import sys, threading; import {preload}; "
        "print(threading.active_count(), 'evidently' in sys.modules, 'mlflow' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.split() == ["1", "True", "True"], done.stdout + done.stderr


def test_every_job_has_a_run_config_schema_the_ui_can_show() -> None:
    """A job's default config must leave room for its required op config (an operator
    action's approver or reason): the code location would fail to load otherwise."""
    from churn_assets.definitions import defs

    for job in defs().resolve_all_job_defs():
        assert job.run_config_schema.config_type is not None, job.name
