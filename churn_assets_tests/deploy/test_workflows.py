"""The GitHub Actions workflows, offline: valid against the workflow schema check-jsonschema
vendors, pinned actions, least-privilege permissions, and the jobs and steps the delivery relies
on, in the order it relies on them. Scripts that run without a cluster are run here."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from churn_assets_tests.deploy.files import REPO_ROOT, SERVICE_MANIFESTS, WORKFLOWS, load_yaml

CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"
FILES = sorted(WORKFLOWS.glob("*.yml"))


def _workflow(name: str) -> dict[str, Any]:
    return load_yaml(WORKFLOWS / name)


def _triggers(workflow: dict[str, Any]) -> dict[str, Any]:
    # YAML 1.1 reads the key `on` as True.
    return workflow.get("on", workflow.get(True))


def _step(job: dict[str, Any], name_part: str) -> tuple[int, dict[str, Any]]:
    for index, step in enumerate(job["steps"]):
        if name_part in step.get("name", "") or name_part in step.get("uses", ""):
            return index, step
    raise AssertionError(f"no step matching {name_part!r}")


def _check(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.github-workflows", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_both_workflows_exist() -> None:
    assert [p.name for p in FILES] == ["ci.yml", "deploy.yml"]


def test_the_workflows_match_the_github_schema() -> None:
    result = _check(*FILES)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_can_fail(tmp_path: Path) -> None:
    """The same workflow passes re-serialized, and fails with one wrong field."""
    workflow = _workflow("ci.yml")
    same = tmp_path / "same.yml"
    same.write_text(json.dumps(workflow).replace('"true":', '"on":'))
    assert _check(same).returncode == 0
    workflow["jobs"]["test"]["runs-on"] = {"group": 3, "unknown": True}
    broken = tmp_path / "broken.yml"
    broken.write_text(json.dumps(workflow).replace('"true":', '"on":'))
    result = _check(broken)
    assert result.returncode != 0
    assert "runs-on" in result.stdout


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_actions_are_pinned_and_permissions_are_least(path: Path) -> None:
    workflow = load_yaml(path)
    assert workflow["permissions"] == {"contents": "read"}
    assert workflow["defaults"]["run"]["shell"] == "bash"  # -eo pipefail
    assert workflow["concurrency"]["group"]
    for job_name, job in workflow["jobs"].items():
        granted = job.get("permissions", {})
        assert set(granted.values()) <= {"read", "write"}, job_name
        assert "write-all" not in str(granted)
        for step in job["steps"]:
            if "uses" in step:
                # An exact release (or a commit), never a moving tag or branch.
                assert re.fullmatch(
                    r"[\w.-]+/[\w.-]+@(v\d+\.\d+\.\d+|[0-9a-f]{40})", step["uses"]
                ), step
        assert job.get("timeout-minutes"), job_name


def test_ci_runs_the_repository_script_and_builds_the_bento() -> None:
    workflow = _workflow("ci.yml")
    triggers = _triggers(workflow)
    assert "push" in triggers and "pull_request" in triggers
    job = workflow["jobs"]["test"]
    _, python = _step(job, "actions/setup-python")
    assert python["with"]["python-version"] == "3.11"
    ci, _ = _step(job, ".ci/run")
    assert job["steps"][ci]["run"] == "bash .ci/run"
    demo, _ = _step(job, "make demo")
    export, step = _step(job, "Export the bento")
    assert "bentoml export churn_service:latest" in step["run"]
    upload, _ = _step(job, "actions/upload-artifact")
    assert ci < demo < export < upload
    # `make demo` is a real target; the bento it builds lands in the Makefile's CHURN_HOME.
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert re.search(r"^demo:", makefile, re.MULTILINE)
    assert "CHURN_HOME ?= $(CURDIR)/.churn" in makefile
    assert step["env"]["BENTOML_HOME"].endswith("/.churn/bentoml")


def test_ci_checks_the_values_against_the_real_chart() -> None:
    job = _workflow("ci.yml")["jobs"]["deploy-files"]
    assert job["env"]["CHART_VERSION"] == "1.13.27"
    _, pull = _step(job, "Fetch the chart")
    assert 'helm pull dagster/dagster --version "$CHART_VERSION"' in pull["run"]
    _, render = _step(job, "Lint and render")
    assert "helm lint" in render["run"] and "helm template" in render["run"]
    _, tests = _step(job, "chart's own schema")
    assert tests["env"]["DAGSTER_HELM_CHART"].endswith("/chart/dagster")


def test_deploy_triggers_and_serialization() -> None:
    workflow = _workflow("deploy.yml")
    triggers = _triggers(workflow)
    assert triggers["push"]["branches"] == ["main"]
    assert triggers["push"]["tags"]
    assert "workflow_dispatch" in triggers
    assert workflow["concurrency"]["cancel-in-progress"] is False
    assert workflow["env"]["CHART_VERSION"] == "1.13.27"
    uv = re.search(r"ARG UV_VERSION=(\S+)", (REPO_ROOT / "deploy/docker/Dockerfile").read_text())
    assert uv and workflow["env"]["UV_VERSION"] == uv.group(1)


def test_only_the_image_jobs_may_write_packages() -> None:
    jobs = _workflow("deploy.yml")["jobs"]
    writers = {name for name, job in jobs.items() if job["permissions"].get("packages") == "write"}
    assert writers == {"code-location-image", "service-image"}
    assert jobs["deploy"]["permissions"] == {"contents": "read"}


def test_the_images() -> None:
    jobs = _workflow("deploy.yml")["jobs"]
    _, build = _step(jobs["code-location-image"], "docker/build-push-action")
    assert build["with"]["file"] == "deploy/docker/Dockerfile"
    assert build["with"]["push"] is True
    _, containerize = _step(jobs["service-image"], "bentoml containerize")
    assert ".venv/bin/bentoml containerize" in containerize["run"]
    assert "docker push" in containerize["run"]
    _, bento = _step(jobs["service-image"], "Import the bento")
    assert "churn_assets.lib.serving.bento_store" in bento["run"]


def test_deploy_runs_the_smoke_test_after_deploying() -> None:
    job = _workflow("deploy.yml")["jobs"]["deploy"]
    assert set(job["needs"]) == {"code-location-image", "service-image"}
    assert job["environment"] == "production"
    values, values_step = _step(job, "Helm values")
    assert "deploy/helm/render_values.py --values deploy/helm/values.yaml" in values_step["run"]
    helm, helm_step = _step(job, "helm upgrade --install")
    assert "helm upgrade --install dagster dagster/dagster" in helm_step["run"]
    assert '--values "$RUNNER_TEMP/values.yaml"' in helm_step["run"]
    assert "--wait" in helm_step["run"]
    point, _ = _step(job, "Point the service's kustomization")
    apply, apply_step = _step(job, "kubectl apply -k")
    assert "kubectl apply -k deploy/k8s/churn-service" in apply_step["run"]
    assert "kubectl rollout status deployment/churn-service" in apply_step["run"]
    smoke, smoke_step = _step(job, "Smoke test")
    assert smoke_step["env"]["CHURN_ENDPOINT_URL"] == "${{ vars.CHURN_ENDPOINT_URL }}"
    assert 'python deploy/smoke_test.py --endpoint "${CHURN_ENDPOINT_URL}"' in smoke_step["run"]
    assert values < helm < smoke and point < apply < smoke
    assert smoke == len(job["steps"]) - 1


def test_the_kustomization_step_sets_the_pushed_image(tmp_path: Path) -> None:
    """The workflow's own script, run on a copy of the folder."""
    job = _workflow("deploy.yml")["jobs"]["deploy"]
    _, step = _step(job, "Point the service's kustomization")
    folder = tmp_path / "deploy" / "k8s" / "churn-service"
    shutil.copytree(SERVICE_MANIFESTS, folder)
    image = "ghcr.io/acme/churn-service:v3-shadow-v4-3f2c1ab"
    subprocess.run(
        ["bash", "-eo", "pipefail", "-c", step["run"]],
        cwd=tmp_path,
        env={"IMAGE": image, "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin"},
        check=True,
        timeout=60,
    )
    kustomization = load_yaml(folder / "kustomization.yaml")
    original = load_yaml(SERVICE_MANIFESTS / "kustomization.yaml")
    (entry,) = kustomization["images"]
    assert entry == {
        "name": "churn-service",
        "newName": "ghcr.io/acme/churn-service",
        "newTag": "v3-shadow-v4-3f2c1ab",
    }
    assert {k: v for k, v in kustomization.items() if k != "images"} == {
        k: v for k, v in original.items() if k != "images"
    }
