"""The Kubernetes manifests under deploy/k8s/: every object validates strictly against the
Kubernetes API schemas kubernetes-validate bundles (1.30 and the newest it knows), each
kustomization lists exactly its folder's objects, and the objects agree with each other (labels,
ports, probes, names) and with the service they run."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from churn_assets_tests.deploy.files import (
    EXPORTER_MANIFESTS,
    K8S_VERSIONS,
    SERVICE_MANIFESTS,
    k8s_validate,
    load_docs,
    load_yaml,
)

FOLDERS = [SERVICE_MANIFESTS, EXPORTER_MANIFESTS]
OBJECT_FILES = [
    path
    for folder in FOLDERS
    for path in sorted(folder.glob("*.yaml"))
    if path.name != "kustomization.yaml"
]


def _objects(folder: Path) -> dict[str, dict[str, Any]]:
    """kind -> object, for a folder whose files hold one object of each kind."""
    objects: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            for doc in load_docs(path):
                assert doc["kind"] not in objects, f"two {doc['kind']}s in {folder}"
                objects[doc["kind"]] = doc
    return objects


@pytest.fixture(scope="module")
def service() -> dict[str, dict[str, Any]]:
    return _objects(SERVICE_MANIFESTS)


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("path", OBJECT_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_object_is_valid(path: Path, version: str) -> None:
    docs = load_docs(path)
    assert docs
    for doc in docs:
        k8s_validate(doc, version)


def test_strict_validation_catches_a_misspelt_field(service: dict[str, dict[str, Any]]) -> None:
    from kubernetes_validate import ValidationError

    broken = copy.deepcopy(service["Deployment"])
    _container(broken)["readinesProbe"] = _container(broken)["readinessProbe"]
    with pytest.raises(ValidationError, match="readinesProbe"):
        k8s_validate(broken, "1.30")


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_the_kustomization_lists_its_folder(folder: Path) -> None:
    kustomization = load_yaml(folder / "kustomization.yaml")
    assert kustomization["apiVersion"] == "kustomize.config.k8s.io/v1beta1"
    assert kustomization["kind"] == "Kustomization"
    listed = kustomization["resources"]
    assert len(listed) == len(set(listed))
    assert sorted(listed) == sorted(
        p.name for p in folder.glob("*.yaml") if p.name != "kustomization.yaml"
    )
    for label in kustomization.get("labels", []):
        # Selectors are immutable on a Deployment: a label added to them later breaks applies.
        assert label["includeSelectors"] is False


def test_the_image_is_set_by_the_kustomization(service: dict[str, dict[str, Any]]) -> None:
    kustomization = load_yaml(SERVICE_MANIFESTS / "kustomization.yaml")
    (image,) = kustomization["images"]
    assert image["name"] == _container(service["Deployment"])["image"] == "churn-service"
    assert image["newName"].endswith("/churn-service")


def test_the_probes_and_the_port(service: dict[str, dict[str, Any]]) -> None:
    container = _container(service["Deployment"])
    (port,) = container["ports"]
    assert (port["name"], port["containerPort"]) == ("http", 3000)
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "http"}
    assert container["startupProbe"]["httpGet"]["path"] == "/readyz"
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 30


def test_zero_downtime_rollout(service: dict[str, dict[str, Any]]) -> None:
    deployment = service["Deployment"]
    strategy = deployment["spec"]["strategy"]
    assert strategy["type"] == "RollingUpdate"
    assert strategy["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}
    # The autoscaler owns the replica count; restating it would reset it on every apply.
    assert "replicas" not in deployment["spec"]
    grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    pre_stop = _container(deployment)["lifecycle"]["preStop"]["exec"]["command"]
    # BentoML drains for up to its 10 s traffic timeout after the preStop pause.
    assert grace >= int(pre_stop[-1]) + 10


def test_resources_and_environment(service: dict[str, dict[str, Any]]) -> None:
    container = _container(service["Deployment"])
    resources = container["resources"]
    assert resources["requests"]["cpu"] and resources["requests"]["memory"]
    assert resources["limits"]["memory"]
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert env["OMP_NUM_THREADS"] == "1"
    assert int(env["CHURN_SERVICE_WORKERS"]) >= 1
    assert env["CHURN_PREDICTION_LOG_DIR"]


def test_read_only_root_with_writable_scratch(service: dict[str, dict[str, Any]]) -> None:
    """Everything the service writes goes to an emptyDir: /tmp (BentoML's home and library
    caches) and the prediction log folder. test_smoke_test.py serves a bento with exactly this
    environment and checks nothing is written elsewhere."""
    pod = service["Deployment"]["spec"]["template"]["spec"]
    container = _container(service["Deployment"])
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    empty_dirs = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert all(name in empty_dirs for name in mounts.values())
    assert "/tmp" in mounts
    env = {item["name"]: item.get("value") for item in container["env"]}
    for variable in ("CHURN_PREDICTION_LOG_DIR", "BENTOML_HOME", "MPLCONFIGDIR", "NUMBA_CACHE_DIR"):
        assert any(env[variable].startswith(path.rstrip("/") + "/") for path in mounts), variable


def test_the_objects_select_the_same_pods(service: dict[str, dict[str, Any]]) -> None:
    deployment = service["Deployment"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod_labels.items()
    assert service["Service"]["spec"]["selector"] == selector
    assert service["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"] == selector
    target = service["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])


def test_the_service_port_and_its_annotations(service: dict[str, dict[str, Any]]) -> None:
    (port,) = service["Service"]["spec"]["ports"]
    assert service["Service"]["spec"]["type"] == "ClusterIP"
    assert (port["port"], port["targetPort"]) == (80, "http")
    container_port = _container(service["Deployment"])["ports"][0]["containerPort"]
    pod_annotations = service["Deployment"]["spec"]["template"]["metadata"]["annotations"]
    for notes in (pod_annotations, service["Service"]["metadata"]["annotations"]):
        assert notes["prometheus.io/scrape"] == "true"
        assert notes["prometheus.io/port"] == str(container_port)
        assert notes["prometheus.io/path"] == "/metrics"


def test_autoscaling_and_disruptions_leave_a_pod_serving(
    service: dict[str, dict[str, Any]],
) -> None:
    hpa = service["HorizontalPodAutoscaler"]["spec"]
    assert hpa["minReplicas"] >= 2
    assert hpa["maxReplicas"] > hpa["minReplicas"]
    (metric,) = hpa["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert 0 < metric["resource"]["target"]["averageUtilization"] <= 100
    # Utilization is measured against the CPU request, so the pods must have one.
    assert _container(service["Deployment"])["resources"]["requests"]["cpu"]
    assert service["PodDisruptionBudget"]["spec"]["minAvailable"] == 1 < hpa["minReplicas"]


def test_the_exporter_serves_the_textfiles_read_only() -> None:
    objects = _objects(EXPORTER_MANIFESTS)
    pod = objects["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert "--collector.textfile" in container["args"]
    folder = next(
        a.split("=", 1)[1]
        for a in container["args"]
        if a.startswith("--collector.textfile.directory=")
    )
    (mount,) = container["volumeMounts"]
    assert mount["mountPath"] == folder and mount["readOnly"] is True
    (volume,) = pod["volumes"]
    claim = objects["PersistentVolumeClaim"]
    assert volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    # Step pods on any node write to it.
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
