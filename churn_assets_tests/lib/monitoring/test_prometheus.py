"""The Prometheus textfile, and the Grafana/Prometheus configuration under bentos/monitoring
that reads it (and the service's metrics)."""

from __future__ import annotations

import importlib.util
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from churn_assets.lib.monitoring import prometheus
from churn_assets.lib.monitoring.prometheus import Sample, drift_samples, write_textfile

REPO_ROOT = Path(__file__).resolve().parents[3]
MONITORING_DIR = REPO_ROOT / "bentos" / "monitoring"

# Every metric name the dashboard may query: BentoML 1.4 defaults for new-style services
# (namespace bentoml_service), the service's custom metrics, and the textfile gauges.
SERVICE_METRICS = {
    "bentoml_service_request_total",
    "bentoml_service_request_duration_seconds",
    "bentoml_service_request_in_progress",
    "bentoml_service_adaptive_batch_size",
    "bentoml_service_last_request_timestamp_seconds",
    "churn_predictions_total",
    "churn_score",
    "churn_model_info",
    "churn_shadow_predictions_total",
    "churn_shadow_disagreements_total",
}
HISTOGRAMS = {
    "bentoml_service_request_duration_seconds",
    "bentoml_service_adaptive_batch_size",
    "churn_score",
}
KNOWN_METRICS = (
    SERVICE_METRICS
    | set(prometheus.DRIFT_METRIC_NAMES)
    | {f"{h}_{suffix}" for h in HISTOGRAMS for suffix in ("bucket", "sum", "count")}
)


def _parse(path: Path) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    families = text_string_to_metric_families(path.read_text())
    parsed: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in families:
        assert family.type == "gauge"
        for sample in family.samples:
            parsed.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return parsed


def test_drift_samples_round_trip(tmp_path: Path) -> None:
    numbers = {
        "drifted_share": 0.42,
        "n_drifted": 8,
        "prediction_drift_score": 0.17,
        "current_rows": 5000,
        "roc_auc_current": 0.79,
        "roc_auc_drop": 0.05,
        "breached": True,
    }
    samples = drift_samples("2026-05", numbers, "3", timestamp=1_780_000_000.0)
    samples += drift_samples(
        "2026-04", {"drifted_share": 0.1, "n_drifted": 2, "breached": False}, "3", timestamp=1.0
    )
    path = write_textfile(tmp_path / "prom" / "churn_monitoring.prom", samples)
    assert path.parent.name == "prom"

    parsed = _parse(path)
    assert set(parsed) == set(prometheus.DRIFT_METRIC_NAMES)
    may = (("batch", "2026-05"), ("model_version", "3"))
    april = (("batch", "2026-04"), ("model_version", "3"))
    assert parsed["churn_drift_share"] == {may: 0.42, april: 0.1}
    assert parsed["churn_drift_columns"] == {may: 8.0, april: 2.0}
    assert parsed["churn_prediction_drift_score"] == {may: 0.17}
    assert parsed["churn_batch_rows"] == {may: 5000.0}
    assert parsed["churn_batch_roc_auc"] == {may: 0.79}
    assert parsed["churn_batch_roc_auc_drop"] == {may: 0.05}
    assert parsed["churn_drift_breach"] == {may: 1.0, april: 0.0}
    assert parsed["churn_monitoring_last_batch_timestamp_seconds"] == {
        may: 1_780_000_000.0,
        april: 1.0,
    }

    text = path.read_text()
    for name in prometheus.DRIFT_METRIC_NAMES:
        assert text.count(f"# HELP {name} ") == 1
        assert text.count(f"# TYPE {name} gauge") == 1
    assert list(tmp_path.joinpath("prom").iterdir()) == [path]  # no temporary files left


def test_missing_and_nan_numbers_are_omitted() -> None:
    samples = drift_samples("b", {"drifted_share": 0.2, "roc_auc_current": float("nan")}, "1")
    assert [s.name for s in samples] == [
        "churn_drift_share",
        "churn_monitoring_last_batch_timestamp_seconds",
    ]
    assert abs(samples[-1].value - time.time()) < 60


def test_textfile_escapes_labels_and_is_deterministic(tmp_path: Path) -> None:
    nasty = 'v"1\\beta\nnext'
    samples = [
        Sample("churn_b", "B help", {"batch": "2", "model_version": nasty}, 2.0),
        Sample("churn_a", 'A "help" \\ with\nnewline', {"batch": "1"}, 1.0),
        Sample("churn_b", "B help", {"model_version": "x", "batch": "1"}, 3.0),
    ]
    first = write_textfile(tmp_path / "one.prom", samples).read_text()
    second = write_textfile(tmp_path / "two.prom", list(reversed(samples))).read_text()
    assert first == second
    assert 'model_version="v\\"1\\\\beta\\nnext"' in first
    assert first.index("churn_a") < first.index("churn_b")

    parsed = _parse(tmp_path / "one.prom")
    assert parsed["churn_b"][(("batch", "2"), ("model_version", nasty))] == 2.0
    families = {f.name: f for f in text_string_to_metric_families(first)}
    assert families["churn_a"].documentation == 'A "help" \\ with\nnewline'

    # Rewriting replaces the file atomically and leaves nothing else behind.
    write_textfile(tmp_path / "one.prom", samples[:1])
    assert set(_parse(tmp_path / "one.prom")) == {"churn_b"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.prom", "two.prom"]


@pytest.mark.parametrize(
    "samples",
    [
        [Sample("churn-x", "h", {}, 1.0)],
        [Sample("churn_x", "h", {"bad-label": "v"}, 1.0)],
        [Sample("churn_x", "h", {"__name__": "v"}, 1.0)],
        [Sample("churn_x", "h", {"a": "1"}, 1.0), Sample("churn_x", "h", {"a": "1"}, 2.0)],
        [Sample("churn_x", "h", {"a": "1"}, 1.0), Sample("churn_x", "other", {"a": "2"}, 2.0)],
        [Sample("churn_x", "h", {"a": "1"}, 1.0), Sample("churn_x", "h", {"b": "2"}, 2.0)],
        [Sample("churn_x", "h", {}, 1.0, type="counter")],  # type: ignore[arg-type]
    ],
)
def test_textfile_rejects_invalid_samples(tmp_path: Path, samples: list[Sample]) -> None:
    with pytest.raises(ValueError):
        write_textfile(tmp_path / "bad.prom", samples)
    assert not list(tmp_path.iterdir())


def test_default_textfile_path_is_under_churn_home(churn_home: Path) -> None:
    path = prometheus.default_textfile_path()
    assert path == churn_home.resolve() / "monitoring" / "prometheus" / "churn_monitoring.prom"
    assert path.parent.is_dir()


# --------------------------------------------------------------------------- bentos/monitoring

_METRIC_TOKEN = re.compile(r"\b(?:churn|bentoml)_[a-zA-Z0-9_]+\b")


def _panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def test_dashboard_queries_use_known_metrics() -> None:
    dashboard = json.loads((MONITORING_DIR / "grafana-dashboard.json").read_text())
    assert dashboard["uid"] == "churn-platform"
    assert 36 <= dashboard["schemaVersion"] <= 41
    assert [i["name"] for i in dashboard["__inputs"]] == ["DS_PROMETHEUS"]

    used: set[str] = set()
    ids = []
    for panel in _panels(dashboard):
        ids.append(panel["id"])
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${DS_PROMETHEUS}"
            names = set(_METRIC_TOKEN.findall(target["expr"]))
            assert names, f"{panel['title']}: no metric in {target['expr']!r}"
            assert names <= KNOWN_METRICS, f"{panel['title']}: unknown {names - KNOWN_METRICS}"
            assert target["expr"].count("(") == target["expr"].count(")"), target["expr"]
            used |= names
    assert len(ids) == len(set(ids))
    for variable in dashboard["templating"]["list"]:
        assert set(_METRIC_TOKEN.findall(variable["definition"])) <= KNOWN_METRICS

    # Every panel the brief asks for has its metric on the dashboard.
    expected = {
        "bentoml_service_request_total",
        "bentoml_service_request_duration_seconds_bucket",
        "bentoml_service_request_in_progress",
        "bentoml_service_adaptive_batch_size_bucket",
        "churn_predictions_total",
        "churn_score_bucket",
        "churn_model_info",
        "churn_shadow_predictions_total",
        "churn_shadow_disagreements_total",
        *prometheus.DRIFT_METRIC_NAMES,
    }
    assert expected <= used, expected - used


def test_bentoml_default_metric_names_match_installed_bentoml() -> None:
    """The dashboard's bentoml_* names come from the installed BentoML's source."""
    # Located without importing BentoML (slow, and it sets up its own metrics client).
    bentoml_dir = Path(importlib.util.find_spec("bentoml").origin).parent  # type: ignore[union-attr]
    impl_dir = Path(importlib.util.find_spec("_bentoml_impl").origin).parent  # type: ignore[union-attr]
    instruments_src = (bentoml_dir / "_internal/server/http/instruments.py").read_text()
    app_src = (impl_dir / "server/app.py").read_text()
    for name in ("request_total", "request_duration_seconds", "request_in_progress"):
        assert f'name="{name}"' in instruments_src
    # New-style (1.4) services use RunnerTrafficMetricsMiddleware with the configured namespace.
    assert "RunnerTrafficMetricsMiddleware" in app_src
    assert 'namespace="bentoml_service"' in app_src and 'name="adaptive_batch_size"' in app_src
    config = bentoml_dir / "_internal/configuration/v2/default_configuration.yaml"
    namespace = yaml.safe_load(config.read_text())["services"]["metrics"]["namespace"]
    assert namespace == "bentoml_service"


def test_prometheus_config_parses() -> None:
    config = yaml.safe_load((MONITORING_DIR / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    service = jobs["churn-service"]
    assert service["static_configs"][0]["targets"] == ["127.0.0.1:3001"]
    assert service["metrics_path"] == "/metrics"
    assert service["scrape_interval"] == "15s"
    monitoring = jobs["churn-monitoring"]
    assert monitoring["static_configs"][0]["targets"] == ["127.0.0.1:9100"]
    keep = monitoring["metric_relabel_configs"][0]
    assert all(re.fullmatch(keep["regex"], name) for name in prometheus.DRIFT_METRIC_NAMES)


def test_the_textfile_directory_can_be_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A team points it at the folder node_exporter reads, shared with the run workers."""
    monkeypatch.setenv("CHURN_PROMETHEUS_DIR", str(tmp_path / "textfiles"))
    path = prometheus.default_textfile_path("churn_drift_2026-05.prom")
    assert path == tmp_path / "textfiles" / "churn_drift_2026-05.prom"
    assert path.parent.is_dir()
