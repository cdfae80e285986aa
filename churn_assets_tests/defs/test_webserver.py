"""End to end through the real Dagster UI server: launch a materialization over GraphQL.

The test starts `dagster-webserver` as a subprocess on a free loopback port with its own
DAGSTER_HOME (a copy of the repository's dagster.yaml) and the per-test CHURN_HOME, then does
what the UI's "Materialize selected" button does: the `launchPipelineExecution` mutation for
the implicit asset job `__ASSET_JOB`, with an asset selection and the checks of those assets.
It polls the run over GraphQL and reads back the materializations and check results that the
UI's asset pages show.

(Over 400 lines: the GraphQL documents the UI sends are spelled out in full.)
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from churn_assets_tests.servers import free_port, stop

REPO_ROOT = Path(__file__).resolve().parents[2]

STARTUP_DEADLINE_S = 90.0  # usually ~10 s on 2 cores
RUN_DEADLINE_S = 120.0  # usually ~25 s on 2 cores
ASSETS = ["raw_customers", "validated_customers", "quarantined_customers"]
TERMINAL_STATUSES = {"SUCCESS", "FAILURE", "CANCELED"}

# The exact mutation document the UI sends (dagster-webserver's LaunchPipelineExecution),
# with `__typename` added so an unexpected result type is reported by name.
LAUNCH_MUTATION = """
mutation LaunchPipelineExecution($executionParams: ExecutionParams!) {
  launchPipelineExecution(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { id pipelineName } }
    ... on PipelineNotFoundError { message }
    ... on InvalidSubsetError { message }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on PythonError { message stack }
  }
}
"""

WORKSPACE_QUERY = """
{
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError {
          __typename
          ... on RepositoryLocation { name repositories { name jobs { name } } }
          ... on PythonError { message stack }
        }
      }
    }
    ... on PythonError { message }
  }
}
"""

ASSET_CHECKS_QUERY = """
query AssetChecks($keys: [AssetKeyInput!]!) {
  assetNodes(assetKeys: $keys) {
    assetKey { path }
    jobNames
    assetChecksOrError { ... on AssetChecks { checks { name } } }
  }
}
"""

RUN_STATUS_QUERY = """
query RunStatus($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run { status }
    ... on PythonError { message }
  }
}
"""

RUN_ERRORS_QUERY = """
query RunErrors($runId: ID!) {
  logsForRun(runId: $runId, limit: 1000) {
    ... on EventConnection {
      events {
        __typename
        ... on MessageEvent { message stepKey }
        ... on ExecutionStepFailureEvent { error { message } }
        ... on RunFailureEvent { error { message } }
      }
    }
  }
}
"""

MATERIALIZATIONS_QUERY = """
query Materializations($keys: [AssetKeyInput!]!) {
  assetNodes(assetKeys: $keys) {
    assetKey { path }
    assetMaterializations(limit: 1) {
      runId
      metadataEntries {
        __typename
        label
        ... on IntMetadataEntry { intValue }
        ... on FloatMetadataEntry { floatValue }
        ... on TextMetadataEntry { text }
        ... on PathMetadataEntry { path }
      }
    }
  }
}
"""

CHECK_EXECUTIONS_QUERY = """
query CheckExecutions($key: AssetKeyInput!, $check: String!) {
  assetCheckExecutions(assetKey: $key, checkName: $check, limit: 1) {
    runId
    status
    evaluation {
      success
      description
      metadataEntries {
        label
        ... on FloatMetadataEntry { floatValue }
        ... on IntMetadataEntry { intValue }
      }
    }
  }
}
"""

MATERIALIZED_QUERY = """
query LatestRun($keys: [AssetKeyInput!]!) {
  assetNodes(assetKeys: $keys) { assetKey { path } assetMaterializations(limit: 1) { runId } }
}
"""


@dataclass
class Webserver:
    url: str
    process: subprocess.Popen
    stderr_path: Path

    def log_tail(self, chars: int = 6000) -> str:
        text = self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""
        return text[-chars:]

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = requests.post(
            f"{self.url}/graphql", json={"query": query, "variables": variables or {}}, timeout=30
        )
        response.raise_for_status()
        body = response.json()
        assert not body.get("errors"), f"GraphQL errors: {body['errors']}"
        return body["data"]


def write_instance_config(dagster_home: Path) -> None:
    """Copy the repository's dagster.yaml, switching to the DefaultRunCoordinator.

    The repository's instance uses Dagster's default QueuedRunCoordinator, whose queue only the
    dagster-daemon drains (`make ui` runs `dg dev`, which starts one). A bare webserver would
    leave the launched run QUEUED forever. Starting a daemon as well would cost a second process
    loading the code location on a 2-core machine; the DefaultRunCoordinator is the simpler real
    setup: the webserver hands the run straight to the same DefaultRunLauncher the daemon would
    use, so the run still executes in its own `dagster api execute_run` process. Everything else
    (storage, concurrency, telemetry) is the repository's configuration.
    """
    config = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text()) or {}
    config.pop("run_queue", None)
    # The module path dagster.yaml documents for the default coordinator (config, not code).
    config["run_coordinator"] = {
        "module": "dagster._core.run_coordinator",
        "class": "DefaultRunCoordinator",
    }
    dagster_home.mkdir(parents=True, exist_ok=True)
    (dagster_home / "dagster.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def wait_until_loaded(server: Webserver) -> dict[str, Any]:
    """Wait for the HTTP server, then for the code location; return the loaded location."""
    deadline = time.monotonic() + STARTUP_DEADLINE_S
    last = "no answer yet"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(
                f"dagster-webserver exited with code {server.process.returncode} before it was "
                f"ready; stderr:\n{server.log_tail()}"
            )
        try:
            info = requests.get(f"{server.url}/server_info", timeout=5)
            if info.ok:
                workspace = server.graphql(WORKSPACE_QUERY)["workspaceOrError"]
                assert workspace["__typename"] == "Workspace", workspace
                entries = workspace["locationEntries"]
                if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                    (entry,) = entries
                    location = entry["locationOrLoadError"]
                    if location["__typename"] != "RepositoryLocation":
                        pytest.fail(f"code location failed to load: {location}")
                    return location
                last = f"locations {[(e['name'], e['loadStatus']) for e in entries]}"
            else:
                last = f"/server_info answered {info.status_code}"
        except requests.RequestException as exc:
            last = repr(exc)
        time.sleep(0.5)
    pytest.fail(
        f"dagster-webserver not ready after {STARTUP_DEADLINE_S:.0f} s ({last}); "
        f"stderr:\n{server.log_tail()}"
    )


@pytest.fixture
def webserver(tmp_path: Path, churn_home: Path) -> Iterator[Webserver]:
    dagster_home = tmp_path / "dagster_home"
    write_instance_config(dagster_home)
    env = {**os.environ, "DAGSTER_HOME": str(dagster_home), "CHURN_HOME": str(churn_home)}
    env["PYTHONUNBUFFERED"] = "1"
    port = free_port()
    stderr_path = tmp_path / "webserver.stderr.log"
    command = [
        sys.executable,
        "-m",
        "dagster_webserver",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        # The repository's own workspace file, as documented for `dagster-webserver`.
        "-w",
        str(REPO_ROOT / "workspace.yaml"),
    ]
    with (
        open(tmp_path / "webserver.stdout.log", "wb") as stdout,
        open(stderr_path, "wb") as stderr,
    ):
        process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,  # its own process group, so teardown can kill it whole
        )
    try:
        yield Webserver(f"http://127.0.0.1:{port}", process, stderr_path)
    finally:
        stop(process)


def key(name: str) -> dict[str, list[str]]:
    return {"path": [name]}


def metadata(node: dict[str, Any]) -> dict[str, Any]:
    """Label -> value of an asset node's latest materialization (None for rich entries)."""
    (materialization,) = node["assetMaterializations"]
    out = {}
    for entry in materialization["metadataEntries"]:
        value = None
        for field in ("intValue", "floatValue", "text", "path"):
            if field in entry:
                value = entry[field]
        out[entry["label"]] = value
    return out


def run_failure_details(server: Webserver, run_id: str) -> str:
    events = server.graphql(RUN_ERRORS_QUERY, {"runId": run_id})["logsForRun"].get("events", [])
    lines = [
        f"{e['__typename']} {e.get('stepKey') or ''}: {(e.get('error') or {}).get('message') or ''}"
        f"{e.get('message') or ''}"
        for e in events
        if "Failure" in e["__typename"] or "Error" in e["__typename"]
    ]
    return "\n".join(lines) or "(no failure events)"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_materialize_through_webserver_graphql(webserver: Webserver, churn_home: Path) -> None:
    location = wait_until_loaded(webserver)
    (repository,) = [r for r in location["repositories"] if r["jobs"]]
    assert {"__ASSET_JOB", "churn_pipeline"} <= {j["name"] for j in repository["jobs"]}

    # As the UI does: the asset nodes name the job to launch and the checks to run with them.
    nodes = webserver.graphql(ASSET_CHECKS_QUERY, {"keys": [key(a) for a in ASSETS]})
    nodes = nodes["assetNodes"]
    assert sorted(n["assetKey"]["path"][0] for n in nodes) == sorted(ASSETS)
    assert all("__ASSET_JOB" in n["jobNames"] for n in nodes)
    check_selection = [
        {"assetKey": n["assetKey"], "name": c["name"]}
        for n in nodes
        for c in n["assetChecksOrError"]["checks"]
    ]
    check_names = {(c["assetKey"]["path"][0], c["name"]) for c in check_selection}
    assert {
        ("raw_customers", "required_columns_present"),
        ("validated_customers", "rejected_share_within_limit"),
        ("validated_customers", "conforms_to_contract"),
        ("validated_customers", "target_has_both_classes"),
    } <= check_names

    execution_params = {
        "selector": {
            "repositoryLocationName": location["name"],
            "repositoryName": repository["name"],
            "jobName": "__ASSET_JOB",
            "assetSelection": [key(a) for a in ASSETS],
            "assetCheckSelection": check_selection,
        },
        "runConfigData": {},
        "mode": "default",
        "executionMetadata": {"tags": [{"key": "test", "value": "test_webserver"}]},
    }
    launched = webserver.graphql(LAUNCH_MUTATION, {"executionParams": execution_params})
    result = launched["launchPipelineExecution"]
    assert result["__typename"] == "LaunchRunSuccess", result
    run_id = result["run"]["id"]
    assert result["run"]["pipelineName"] == "__ASSET_JOB"

    deadline = time.monotonic() + RUN_DEADLINE_S
    status = None
    while time.monotonic() < deadline:
        run = webserver.graphql(RUN_STATUS_QUERY, {"runId": run_id})["runOrError"]
        assert run["__typename"] == "Run", run
        status = run["status"]
        if status in TERMINAL_STATUSES:
            break
        if webserver.process.poll() is not None:
            pytest.fail(f"dagster-webserver died during the run; stderr:\n{webserver.log_tail()}")
        time.sleep(1)
    else:
        pytest.fail(
            f"run {run_id} still {status} after {RUN_DEADLINE_S:.0f} s (QUEUED means no run "
            f"coordinator picked it up); stderr:\n{webserver.log_tail()}"
        )
    assert status == "SUCCESS", (
        f"run {run_id} ended {status}:\n{run_failure_details(webserver, run_id)}\n"
        f"stderr:\n{webserver.log_tail()}"
    )

    # Every selected asset was materialized by this run, with its metadata.
    nodes = webserver.graphql(MATERIALIZATIONS_QUERY, {"keys": [key(a) for a in ASSETS]})
    by_name = {n["assetKey"]["path"][0]: n for n in nodes["assetNodes"]}
    for name in ASSETS:
        (materialization,) = by_name[name]["assetMaterializations"]
        assert materialization["runId"] == run_id, name
    raw = metadata(by_name["raw_customers"])
    valid = metadata(by_name["validated_customers"])
    quarantined = metadata(by_name["quarantined_customers"])

    assert raw["dagster/row_count"] > 0
    assert valid["dagster/row_count"] > 0
    assert "rows_quarantined" in valid
    assert "rows_quarantined" in quarantined
    assert quarantined["dagster/row_count"] == valid["rows_quarantined"]
    assert valid["rows_valid"] == valid["dagster/row_count"]
    assert valid["rows_valid"] + valid["rows_quarantined"] == valid["rows_received"]
    assert valid["rows_received"] == raw["dagster/row_count"]
    assert 0 <= valid["rejected_share"] <= 1
    # The run wrote into this test's CHURN_HOME, not the developer's .churn.
    for meta in (raw, valid, quarantined):
        stored = Path(meta["path"])
        assert stored.is_relative_to(churn_home), stored
        assert stored.is_file(), stored

    # Every selected check ran in this run and passed; the rejected-share check with its numbers.
    for asset, check in sorted(check_names):
        (execution,) = webserver.graphql(
            CHECK_EXECUTIONS_QUERY, {"key": key(asset), "check": check}
        )["assetCheckExecutions"]
        assert execution["runId"] == run_id, (asset, check)
        assert execution["status"] == "SUCCEEDED", (asset, check, execution)
        assert execution["evaluation"]["success"] is True, (asset, check, execution)
    (share_check,) = webserver.graphql(
        CHECK_EXECUTIONS_QUERY,
        {"key": key("validated_customers"), "check": "rejected_share_within_limit"},
    )["assetCheckExecutions"]
    values = {
        e["label"]: e.get("floatValue", e.get("intValue"))
        for e in share_check["evaluation"]["metadataEntries"]
    }
    assert values["value"] == pytest.approx(valid["rejected_share"])
    assert values["value"] <= values["threshold"]
    assert values["rows_quarantined"] == valid["rows_quarantined"]

    # The selection was honoured: nothing downstream of the ingestion group was materialized.
    downstream = webserver.graphql(MATERIALIZED_QUERY, {"keys": [key("customer_features")]})
    assert all(not n["assetMaterializations"] for n in downstream["assetNodes"])
