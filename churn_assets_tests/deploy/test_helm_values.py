"""deploy/helm/values.yaml against what the Dagster chart (1.13.27) and Dagster itself accept.

(Over 400 lines: the chart's value-to-instance mapping it checks against is written out.)

Without Helm or a cluster, three checks:

1. The values are turned into the dagster.yaml the chart renders from them (the mapping of the
   chart's templates/configmap-instance.yaml and helpers/instance/*.tpl, for the keys we set) and
   that instance config is validated by the installed dagster 1.13.27, dagster-k8s, dagster-aws
   and dagster-postgres config schemas, so a key the chart would pass through but Dagster
   rejects fails here.
2. The Kubernetes objects inside the values (env vars, resources, security contexts) are
   validated against the Kubernetes definitions kubernetes-validate bundles, which is what the
   chart's values.schema.json refers to for them.
3. With ``DAGSTER_HELM_CHART`` pointing at the unpacked chart (``helm pull dagster/dagster
   --version 1.13.27 --untar``: CI on GitHub does it), the values merged over the chart's
   defaults as Helm merges them are validated against the chart's own values.schema.json.
"""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from churn_assets_tests.deploy.files import DOCKERFILE, HELM_VALUES, REPO_ROOT, k8s_validator
from churn_assets_tests.deploy.files import load_yaml as _load

RELEASE, NAMESPACE = "dagster", "churn"
CHART_VERSION = "1.13.27"


@pytest.fixture(scope="module")
def values() -> dict[str, Any]:
    return _load(HELM_VALUES)


def _code_location(values: dict[str, Any]) -> dict[str, Any]:
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    return deployment


def _env(deployment: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in deployment["env"]}


def chart_instance_config(values: dict[str, Any]) -> dict[str, Any]:
    """The dagster.yaml the chart renders (configmap-instance.yaml), for the keys we set."""
    pg = values["postgresql"]
    postgres = {
        "postgres_db": {
            "username": pg["postgresqlUsername"],
            "password": {"env": "DAGSTER_PG_PASSWORD"},
            "hostname": pg["postgresqlHost"],
            "db_name": pg["postgresqlDatabase"],
            "port": pg["service"]["port"],
            "params": pg["postgresqlParams"],
        }
    }
    k8s = values["runLauncher"]["config"]["k8sRunLauncher"]
    run_k8s = k8s["runK8sConfig"]
    launcher = {
        "load_incluster_config": k8s["loadInclusterConfig"],
        "job_namespace": k8s.get("jobNamespace") or NAMESPACE,
        "image_pull_policy": k8s["imagePullPolicy"],
        "image_pull_secrets": values["imagePullSecrets"],
        "service_account_name": RELEASE,
        "dagster_home": "/opt/dagster/dagster_home",
        "instance_config_map": f"{RELEASE}-instance",
        "postgres_password_secret": values["global"]["postgresqlSecretName"],
        "labels": k8s["labels"],
        "fail_pod_on_run_failure": k8s["failPodOnRunFailure"],
        "run_k8s_config": {
            "container_config": run_k8s["containerConfig"],
            "pod_spec_config": run_k8s["podSpecConfig"],
            "job_spec_config": run_k8s["jobSpecConfig"],
        },
    }
    queued = values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    monitoring = values["dagsterDaemon"]["runMonitoring"]
    retries = values["dagsterDaemon"]["runRetries"]
    logs = values["computeLogManager"]["config"]["s3ComputeLogManager"]
    daemon = values["dagsterDaemon"]
    retention = values["retention"]
    return {
        "scheduler": {
            "module": "dagster._core.scheduler",
            "class": "DagsterDaemonScheduler",
        },
        "schedule_storage": {
            "module": "dagster_postgres.schedule_storage",
            "class": "PostgresScheduleStorage",
            "config": postgres,
        },
        "run_launcher": {"module": "dagster_k8s", "class": "K8sRunLauncher", "config": launcher},
        "run_storage": {
            "module": "dagster_postgres.run_storage",
            "class": "PostgresRunStorage",
            "config": postgres,
        },
        "event_log_storage": {
            "module": "dagster_postgres.event_log",
            "class": "PostgresEventLogStorage",
            "config": postgres,
        },
        "run_coordinator": {
            "module": "dagster._core.run_coordinator",
            "class": "QueuedRunCoordinator",
            "config": {
                "max_concurrent_runs": queued["maxConcurrentRuns"],
                "tag_concurrency_limits": queued["tagConcurrencyLimits"],
            },
        },
        "compute_logs": {
            "module": "dagster_aws.s3.compute_log_manager",
            "class": "S3ComputeLogManager",
            "config": {
                "bucket": logs["bucket"],
                "prefix": logs["prefix"],
                "skip_empty_files": logs["skipEmptyFiles"],
                "upload_interval": logs["uploadInterval"],
            },
        },
        "run_monitoring": {
            "enabled": monitoring["enabled"],
            "start_timeout_seconds": monitoring["startTimeoutSeconds"],
            "max_resume_run_attempts": monitoring["maxResumeRunAttempts"],
            "poll_interval_seconds": monitoring["pollIntervalSeconds"],
            "free_slots_after_run_end_seconds": monitoring["freeSlotsAfterRunEndSeconds"],
        },
        "run_retries": {"enabled": retries["enabled"], "max_retries": retries["maxRetries"]},
        "sensors": {
            "use_threads": daemon["sensors"]["useThreads"],
            "num_workers": daemon["sensors"]["numWorkers"],
        },
        "schedules": {
            "use_threads": daemon["schedules"]["useThreads"],
            "num_workers": daemon["schedules"]["numWorkers"],
        },
        "telemetry": {"enabled": values["telemetry"]["enabled"]},
        "retention": {
            "sensor": {"purge_after_days": retention["sensor"]["purgeAfterDays"]},
            "schedule": {"purge_after_days": retention["schedule"]["purgeAfterDays"]},
        },
    }


def _class_config_errors(entry: dict[str, Any]) -> list[str]:
    """Errors of a configurable class's config against the class's own schema."""
    import importlib

    # Private on purpose: Dagster has no public way to check a configurable class's config
    # against its schema; these are the calls DagsterInstance makes when it loads dagster.yaml.
    # If they move in an upgrade, this test fails at import, never silently passes.
    from dagster._config import process_config, resolve_to_config_type

    cls = getattr(importlib.import_module(entry["module"]), entry["class"])
    result = process_config(resolve_to_config_type(cls.config_type()), entry.get("config", {}))
    return [error.message for error in result.errors or []]


@pytest.fixture
def instance_config(values: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    # The chart gives every Dagster container this variable from the Postgres Secret.
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", "from-the-secret")
    return chart_instance_config(values)


def test_the_instance_config_is_valid_for_dagster(instance_config: dict[str, Any]) -> None:
    # Private on purpose: Dagster has no public way to check a configurable class's config
    # against its schema; these are the calls DagsterInstance makes when it loads dagster.yaml.
    # If they move in an upgrade, this test fails at import, never silently passes.
    from dagster._config import process_config, resolve_to_config_type
    from dagster._core.instance.config import dagster_instance_config_schema

    schema = resolve_to_config_type(dagster_instance_config_schema())
    result = process_config(schema, instance_config)
    assert result.success, [error.message for error in result.errors]
    for key, entry in instance_config.items():
        if isinstance(entry, dict) and "class" in entry and "config" in entry:
            assert _class_config_errors(entry) == [], key


def test_a_wrong_key_is_caught(instance_config: dict[str, Any]) -> None:
    """The check above can fail: a misspelt launcher key is rejected by dagster-k8s."""
    broken = copy.deepcopy(instance_config["run_launcher"])
    broken["config"]["fail_pod_on_run_failures"] = True
    assert any("fail_pod_on_run_failures" in error for error in _class_config_errors(broken))


def test_one_retraining_at_a_time(instance_config: dict[str, Any]) -> None:
    """The same queue limit as the laptop's and the team's dagster.yaml, on the tag the
    training jobs carry (the daemon applying it is tested in team/test_run_queue.py)."""
    import yaml

    from churn_assets.defs.jobs import TRAINING_GRAPH, WRITES_TAG
    from churn_assets.team.stack import TEAM_DAGSTER_YAML

    limits = instance_config["run_coordinator"]["config"]["tag_concurrency_limits"]
    team = yaml.safe_load(TEAM_DAGSTER_YAML.read_text())["concurrency"]["runs"]
    assert limits == [{"key": WRITES_TAG, "limit": 1}] == team["tag_concurrency_limits"]
    assert WRITES_TAG in TRAINING_GRAPH


def test_run_monitoring_and_the_launcher(values: dict[str, Any]) -> None:
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    monitoring = values["dagsterDaemon"]["runMonitoring"]
    assert monitoring["enabled"] is True
    assert values["dagsterDaemon"]["runCoordinator"]["type"] == "QueuedRunCoordinator"
    assert values["dagsterDaemon"]["runCoordinator"]["enabled"] is True


def test_external_postgres_from_the_secret(values: dict[str, Any]) -> None:
    assert values["postgresql"]["enabled"] is False
    assert values["generatePostgresqlPasswordSecret"] is False
    assert values["global"]["postgresqlSecretName"] == "dagster-postgresql-secret"
    assert values["postgresql"]["postgresqlPassword"] == ""  # never a password in the file


def test_the_code_location_runs_the_image_of_the_dockerfile(values: dict[str, Any]) -> None:
    deployment = _code_location(values)
    assert values["dagster-user-deployments"]["enabled"] is True
    assert deployment["dagsterApiGrpcArgs"] == ["-m", "churn_assets.definitions"]
    expose = re.search(r"^EXPOSE (\d+)$", DOCKERFILE.read_text(), re.MULTILINE)
    assert expose and deployment["port"] == int(expose.group(1))
    # Its env, secrets and resources reach every run and step pod.
    assert deployment["includeConfigInLaunchedRuns"]["enabled"] is True
    user = re.findall(r"^USER (\d+)$", DOCKERFILE.read_text(), re.MULTILINE)[-1]
    assert deployment["podSecurityContext"]["runAsUser"] == int(user)


def test_the_code_location_environment(values: dict[str, Any]) -> None:
    deployment = _code_location(values)
    env = _env(deployment)
    assert re.fullmatch(r"s3://[a-z0-9.-]+/storage", env["CHURN_STORAGE_URI"]["value"])
    assert env["MLFLOW_TRACKING_URI"]["value"] == "http://mlflow:5000"
    assert env["CHURN_EXECUTOR"]["value"] == "k8s"
    assert env["CHURN_OPTUNA_STORAGE"]["valueFrom"]["secretKeyRef"] == {
        "name": "churn-optuna",
        "key": "url",
    }
    assert {"name": "churn-aws"} in deployment["envSecrets"]
    # The same names the platform reads.
    from churn_assets.lib import settings

    for name in (settings.STORAGE_URI_ENV_VAR, "MLFLOW_TRACKING_URI"):
        assert name in env
    for name in ("OPTUNA_STORAGE_ENV_VAR", "EXECUTOR_ENV_VAR"):
        if hasattr(settings, name):  # declared by the team deployment's settings
            assert getattr(settings, name) in env


@pytest.mark.parametrize(
    ("where", "definition"),
    [
        (lambda v: _code_location(v)["env"], "io.k8s.api.core.v1.EnvVar"),
        (lambda v: _code_location(v)["envSecrets"], "io.k8s.api.core.v1.SecretEnvSource"),
        (lambda v: [_code_location(v)["resources"]], "io.k8s.api.core.v1.ResourceRequirements"),
        (
            lambda v: [_code_location(v)["podSecurityContext"]],
            "io.k8s.api.core.v1.PodSecurityContext",
        ),
        (lambda v: [_code_location(v)["securityContext"]], "io.k8s.api.core.v1.SecurityContext"),
        (
            lambda v: [
                v["runLauncher"]["config"]["k8sRunLauncher"]["runK8sConfig"]["containerConfig"]
            ],
            "io.k8s.api.core.v1.Container",
        ),
        (
            lambda v: [
                v["runLauncher"]["config"]["k8sRunLauncher"]["runK8sConfig"]["podSpecConfig"]
            ],
            "io.k8s.api.core.v1.PodSpec",
        ),
        (
            lambda v: [
                v["runLauncher"]["config"]["k8sRunLauncher"]["runK8sConfig"]["jobSpecConfig"]
            ],
            "io.k8s.api.batch.v1.JobSpec",
        ),
        (lambda v: [v["dagsterDaemon"]["resources"]], "io.k8s.api.core.v1.ResourceRequirements"),
        (lambda v: [v["dagsterWebserver"]["resources"]], "io.k8s.api.core.v1.ResourceRequirements"),
        (lambda v: v["imagePullSecrets"], "io.k8s.api.core.v1.LocalObjectReference"),
    ],
    ids=[
        "env",
        "envSecrets",
        "resources",
        "podSecurityContext",
        "securityContext",
        "run containerConfig",
        "run podSpecConfig",
        "run jobSpecConfig",
        "daemon resources",
        "webserver resources",
        "imagePullSecrets",
    ],
)
def test_kubernetes_objects_in_the_values(
    values: dict[str, Any], where: Any, definition: str
) -> None:
    validator = k8s_validator(definition)
    for item in where(values):
        # Required fields the Kubernetes types have but a partial config leaves out (a
        # container's name and image, a job's template) are filled by Dagster.
        errors = [e.message for e in validator.iter_errors(item) if e.validator != "required"]
        assert errors == [], item


def test_the_kubernetes_check_can_fail() -> None:
    validator = k8s_validator("io.k8s.api.core.v1.ResourceRequirements")
    assert list(validator.iter_errors({"requests": {"cpu": "2"}, "limit": {"memory": "1Gi"}}))


def test_the_chart_version_is_the_dagster_version() -> None:
    pyproject = (REPO_ROOT / "pyproject.toml").read_text()
    assert f'"dagster=={CHART_VERSION}"' in pyproject
    assert f"--version {CHART_VERSION}" in HELM_VALUES.read_text()


def test_render_values_fills_one_environment(tmp_path: Path, values: dict[str, Any]) -> None:
    script = HELM_VALUES.parent / "render_values.py"
    result = subprocess.run(
        [
            sys.executable,
            str(script),
            "--image-repository",
            "ghcr.io/acme/churn-code-location",
            "--image-tag",
            "3f2c1ab",
            "--bucket",
            "acme-churn",
            "--postgres-host",
            "db.internal",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    rendered = yaml.safe_load(result.stdout)
    deployment = _code_location(rendered)
    assert deployment["image"] == {
        "repository": "ghcr.io/acme/churn-code-location",
        "tag": "3f2c1ab",
        "pullPolicy": "IfNotPresent",
    }
    assert _env(deployment)["CHURN_STORAGE_URI"]["value"] == "s3://acme-churn/storage"
    assert rendered["computeLogManager"]["config"]["s3ComputeLogManager"]["bucket"] == "acme-churn"
    assert rendered["postgresql"]["postgresqlHost"] == "db.internal"
    # Everything else is the committed file, untouched.
    expected = copy.deepcopy(values)
    exp_dep = _code_location(expected)
    exp_dep["image"] = deployment["image"]
    _env(exp_dep)["CHURN_STORAGE_URI"]["value"] = "s3://acme-churn/storage"
    expected["computeLogManager"]["config"]["s3ComputeLogManager"]["bucket"] = "acme-churn"
    expected["postgresql"]["postgresqlHost"] = "db.internal"
    assert rendered == expected


# --------------------------------------------------------------------------- the chart's schema
def _helm_merge(base: Any, override: Any) -> Any:
    """Helm's coalescing of a values file over the chart's defaults: maps merge key by key,
    anything else (lists included) replaces, and null deletes the key."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = _helm_merge(base.get(key), value)
        return merged
    return copy.deepcopy(override)


def _chart_validator(chart: Path) -> Any:
    """A validator of the chart's values.schema.json whose references to the Kubernetes
    definitions (kubernetesjsonschema.dev or a mirror) resolve to those kubernetes-validate
    bundles, offline."""
    import json

    import jsonschema
    from referencing import Registry, Resource

    from churn_assets_tests.deploy.files import k8s_definitions

    schema = json.loads((chart / "values.schema.json").read_text())
    definitions = Resource.from_contents(k8s_definitions())

    def retrieve(uri: str) -> Resource:
        # kubernetesjsonschema.dev, or a mirror of it: the same document, bundled here.
        if uri.endswith("/_definitions.json"):
            return definitions
        raise LookupError(f"no offline copy of {uri}")

    return jsonschema.Draft7Validator(schema, registry=Registry(retrieve=retrieve))


@pytest.fixture(scope="module")
def chart() -> Path:
    folder = os.environ.get("DAGSTER_HELM_CHART")
    if not folder:
        pytest.skip(
            "DAGSTER_HELM_CHART is not set (a `helm pull dagster/dagster --version "
            f"{CHART_VERSION} --untar` folder; CI on GitHub sets it)"
        )
    path = Path(folder)
    chart_yaml = _load(path / "Chart.yaml")
    assert str(chart_yaml["version"]) == CHART_VERSION
    return path


def test_the_values_pass_the_charts_schema(chart: Path, values: dict[str, Any]) -> None:
    merged = _helm_merge(_load(chart / "values.yaml"), values)
    validator = _chart_validator(chart)
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(merged)
    ]
    assert errors == []


def test_the_charts_schema_rejects_a_wrong_key(chart: Path, values: dict[str, Any]) -> None:
    broken = copy.deepcopy(values)
    broken["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]["tagLimits"] = []
    merged = _helm_merge(_load(chart / "values.yaml"), broken)
    assert list(_chart_validator(chart).iter_errors(merged))
