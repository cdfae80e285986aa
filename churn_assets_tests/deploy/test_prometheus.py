"""deploy/prometheus/scrape.yaml without promtool: its shape, and its relabelling rules applied
(as Prometheus applies them: anchored regular expressions) to the pods of our own manifests and
to the metric names the platform really writes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from churn_assets_tests.deploy.files import (
    EXPORTER_MANIFESTS,
    PROMETHEUS,
    SERVICE_MANIFESTS,
    load_docs,
    load_yaml,
)

ACTIONS = {"replace", "keep", "drop", "keepequal", "dropequal", "hashmod", "labelmap", "labeldrop",
           "labelkeep", "lowercase", "uppercase"}  # fmt: skip


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return load_yaml(PROMETHEUS)


def _job(config: dict[str, Any], name: str) -> dict[str, Any]:
    return next(job for job in config["scrape_configs"] if job["job_name"] == name)


def _pod_meta(manifest_folder: Path, phase: str = "Running") -> dict[str, str]:
    """The discovery labels Prometheus' role=pod gives the Deployment's pod (one port)."""
    deployment = next(
        doc
        for path in manifest_folder.glob("*.yaml")
        for doc in load_docs(path)
        if doc.get("kind") == "Deployment"
    )
    template = deployment["spec"]["template"]
    (container,) = template["spec"]["containers"]
    (port,) = container["ports"]
    meta = {
        "__address__": f"10.1.2.3:{port['containerPort']}",
        "__meta_kubernetes_namespace": "churn",
        "__meta_kubernetes_pod_name": f"{deployment['metadata']['name']}-abc12",
        "__meta_kubernetes_pod_phase": phase,
        "__meta_kubernetes_pod_container_port_name": port["name"],
        "__metrics_path__": "/metrics",
    }
    for key, value in template["metadata"].get("labels", {}).items():
        meta["__meta_kubernetes_pod_label_" + re.sub(r"[^a-zA-Z0-9_]", "_", key)] = value
    for key, value in template["metadata"].get("annotations", {}).items():
        meta["__meta_kubernetes_pod_annotation_" + re.sub(r"[^a-zA-Z0-9_]", "_", key)] = value
    return meta


def relabel(labels: dict[str, str], rules: list[dict[str, Any]]) -> dict[str, str] | None:
    """Prometheus' relabelling (keep, drop, replace), or None when the target is dropped."""
    labels = dict(labels)
    for rule in rules:
        action = rule.get("action", "replace")
        value = rule.get("separator", ";").join(
            labels.get(name, "") for name in rule.get("source_labels", [])
        )
        pattern = re.compile(rule.get("regex", "(.*)"))
        match = pattern.fullmatch(value)
        if action == "keep" and not match:
            return None
        if action == "drop" and match:
            return None
        if action == "replace" and match:
            replacement = re.sub(r"\$(\d+)", r"\\\1", rule.get("replacement", "$1"))
            labels[rule["target_label"]] = match.expand(replacement)
    return labels


def test_the_jobs_and_their_discovery(config: dict[str, Any]) -> None:
    assert {job["job_name"] for job in config["scrape_configs"]} == {
        "churn-service",
        "churn-monitoring",
    }
    for job in config["scrape_configs"]:
        (sd,) = job["kubernetes_sd_configs"]
        assert sd["role"] == "pod"
        assert sd["namespaces"]["names"] == ["churn"]
        for rule in job.get("relabel_configs", []) + job.get("metric_relabel_configs", []):
            assert rule.get("action", "replace") in ACTIONS
            re.compile(rule.get("regex", "(.*)"))
    assert config["global"]["scrape_interval"]


def test_a_service_pod_is_scraped_at_its_metrics_port(config: dict[str, Any]) -> None:
    rules = _job(config, "churn-service")["relabel_configs"]
    target = relabel(_pod_meta(SERVICE_MANIFESTS), rules)
    assert target is not None
    assert target["__address__"] == "10.1.2.3:3000"
    assert target["__metrics_path__"] == "/metrics"
    assert target["namespace"] == "churn"
    assert target["pod"].startswith("churn-service-")


def test_pods_that_are_not_the_service_or_not_running_are_not(config: dict[str, Any]) -> None:
    rules = _job(config, "churn-service")["relabel_configs"]
    assert relabel(_pod_meta(SERVICE_MANIFESTS, phase="Pending"), rules) is None
    assert relabel(_pod_meta(EXPORTER_MANIFESTS), rules) is None
    unannotated = _pod_meta(SERVICE_MANIFESTS)
    unannotated["__meta_kubernetes_pod_annotation_prometheus_io_scrape"] = "false"
    assert relabel(unannotated, rules) is None


def test_the_exporter_is_scraped_and_only_the_churn_series_kept(
    config: dict[str, Any], tmp_path: Path
) -> None:
    from churn_assets.lib.monitoring import prometheus

    job = _job(config, "churn-monitoring")
    assert job["honor_labels"] is True
    target = relabel(_pod_meta(EXPORTER_MANIFESTS), job["relabel_configs"])
    assert target is not None and target["__address__"] == "10.1.2.3:9100"
    assert relabel(_pod_meta(SERVICE_MANIFESTS), job["relabel_configs"]) is None

    # What a monitoring run really writes, and what node_exporter adds of its own.
    numbers = {
        "drifted_share": 0.4,
        "n_drifted": 3,
        "prediction_drift_score": 0.2,
        "current_rows": 5000,
        "roc_auc_current": 0.81,
        "roc_auc_drop": 0.02,
        "breached": True,
    }
    samples = prometheus.drift_samples("2026-05", numbers, "3")
    assert len({sample.name for sample in samples}) == len(numbers) + 1  # + last-batch time
    written = prometheus.write_textfile(tmp_path / "churn_drift_2026-05.prom", samples)
    names = {
        line.split("{")[0].split(" ")[0]
        for line in written.read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert names
    rules = job["metric_relabel_configs"]
    for name in names | {"node_textfile_scrape_error", "node_textfile_mtime_seconds"}:
        assert relabel({"__name__": name}, rules) is not None, name
    for name in ("node_cpu_seconds_total", "go_goroutines", "process_resident_memory_bytes"):
        assert relabel({"__name__": name}, rules) is None, name
