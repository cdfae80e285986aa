"""Every step of the training graph on its own "machine": its own process, its own empty working
directory, CHURN_HOME, BENTOML_HOME and DAGSTER_HOME, sharing only Postgres, the bucket and the
MLflow server. This is how `k8s_job_executor` runs each step in its own pod; a step that read
another step's local files would fail here.

At the end a fresh "serving host" imports the bento from the bucket and serves it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest
import requests

from churn_assets.team.report import summary
from churn_assets.team.stack import TEAM_DAGSTER_YAML, TeamStack
from churn_assets_tests.lib.serving.test_request_model import CUSTOMER
from churn_assets_tests.servers import free_port, server_process
from churn_assets_tests.team.conftest import DATA_URI, small_data_ops

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


def training_steps() -> list[list[str]]:
    """The asset keys of each step of churn_pipeline, in dependency order (one entry per
    executable op; the observable source is left out, it is not materialized)."""
    from churn_assets.definitions import defs

    definitions = defs()
    selected = definitions.resolve_job_def("churn_pipeline").asset_layer.selected_asset_keys
    graph = definitions.resolve_asset_graph()
    steps, seen = [], []
    for key in graph.toposorted_asset_keys:
        node = graph.assets_def_for_key(key)
        if key not in selected or node in seen or getattr(node, "is_observable", False):
            continue
        seen.append(node)
        steps.append([k.to_user_string() for k in node.keys if k in selected])
    return steps


def machine(root: Path, name: str, stack_env: dict[str, str]) -> tuple[Path, dict[str, str]]:
    """A fresh 'machine' for one step: an empty folder holding its cwd and private homes."""
    box = root / name
    for sub in ("cwd", "home", "dagster"):
        (box / sub).mkdir(parents=True)
    shutil.copy(TEAM_DAGSTER_YAML, box / "dagster" / "dagster.yaml")
    env = {
        **stack_env,
        "CHURN_HOME": str(box / "home"),
        "BENTOML_HOME": str(box / "home" / "bentoml"),
        "DAGSTER_HOME": str(box / "dagster"),
        "CHURN_DATA_URI": DATA_URI,
        "OMP_NUM_THREADS": "1",
    }
    return box / "cwd", env


def test_each_step_in_its_own_process_and_folder(
    team_stack: TeamStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack_env = team_stack.process_env()
    began = datetime.now(UTC)
    steps = training_steps()
    assert len(steps) >= 15, steps
    dagster = str(Path(sys.executable).with_name("dagster"))
    for index, keys in enumerate(steps):
        cwd, env = machine(tmp_path, f"step{index:02d}", stack_env)
        # One process per step: the step runs in the CLI's own process (in_process), which
        # is the one with the fresh folders, and is not started again as a child of it.
        config = {
            "ops": small_data_ops(keys),
            "execution": {"config": {"in_process": {}}},
        }
        command = [dagster, "asset", "materialize", "-m", "churn_assets.definitions"]
        command += ["--select", ",".join(keys), "--config-json", json.dumps(config)]
        done = subprocess.run(
            command, cwd=cwd, env=env, capture_output=True, text=True, timeout=900, check=False
        )
        assert done.returncode == 0, (
            f"step {keys} failed:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
        )

    for name, value in team_stack.env().items():
        monkeypatch.setenv(name, value)
    with dg.DagsterInstance.get() as instance:
        # Runs and their events are in Postgres: one run per step, all successful (the
        # session's stack also holds other tests' runs).
        records = instance.get_run_records(dg.RunsFilter(created_after=began))
        # Between two of these runs a promotion is pending with no writing run in progress,
        # so the daemon's serving_consistency sensor may launch deploy_champion: not ours.
        records = [r for r in records if "dagster/sensor_name" not in r.dagster_run.tags]
        assert len(records) == len(steps)
        assert all(r.dagster_run.status == dg.DagsterRunStatus.SUCCESS for r in records)
        bento = instance.get_latest_materialization_event(dg.AssetKey("churn_bento"))
        result = summary(team_stack, instance, bento.run_id)
    assert result["champion"].startswith("churn-model v")
    assert result["postgres_events_of_run"] > 0
    assert result["bucket_tables"] >= 6  # raw, validated, quarantined, features, splits
    built = bento.asset_materialization.metadata["bento_tag"].value.replace(":", "-")
    assert any(key.endswith(f"/{built}.bento") for key in result["bucket_bentos"])
    # The artifacts went through the MLflow server into the bucket, not to a local folder.
    assert result["mlflow_artifacts"] > 0
    for index in range(len(steps)):
        assert not (tmp_path / f"step{index:02d}" / "home" / "mlflow").exists()

    # A serving host with nothing of the builder's disk: import the latest bento from the
    # bucket into an empty BENTOML_HOME, serve it, predict.
    host = tmp_path / "serving-host"
    cwd, env = machine(tmp_path, "serving-host", stack_env)
    command = [sys.executable, "-m", "churn_assets.lib.serving.bento_store", "import"]
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    tag = json.loads(done.stdout)["bento_tag"]
    again = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]  # a restarted host imports again
    assert json.loads(again.stdout)["bento_tag"] == tag
    assert tag == bento.asset_materialization.metadata["bento_tag"].value
    port = free_port()
    bentoml = str(Path(sys.executable).with_name("bentoml"))
    serve = [bentoml, "serve", tag, "--host", "127.0.0.1", "--port", str(port)]
    url = f"http://127.0.0.1:{port}"
    with server_process(
        serve, health_url=f"{url}/readyz", log_path=host / "serve.log", what="bentoml serve",
        timeout_s=120, env=env, cwd=cwd,
    ):  # fmt: skip
        answer = requests.post(f"{url}/predict", json=CUSTOMER, timeout=30)
    assert answer.status_code == 200, answer.text
    assert 0.0 <= answer.json()["churn_probability"] <= 1.0
