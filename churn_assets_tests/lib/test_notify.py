"""Alerts (against a real local webhook server), the Prometheus textfile, and the
Grafana/Prometheus configuration under bentos/monitoring."""

from __future__ import annotations

import importlib.util
import json
import logging
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from churn_assets.lib import notify
from churn_assets.lib.monitoring import prometheus
from churn_assets.lib.monitoring.prometheus import Sample, drift_samples, write_textfile
from churn_assets.lib.notify import (
    Alert,
    AlertKind,
    CompositeNotifier,
    LogNotifier,
    Notifier,
    Severity,
    SeverityFilter,
    WebhookNotifier,
    notifier_from_env,
    slack_payload,
)
from churn_assets_tests.servers import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
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


# --------------------------------------------------------------------------- webhook server


class _Webhook:
    """A real HTTP server on 127.0.0.1 answering POSTs with scripted status codes."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.statuses: list[int] = []  # consumed per request; 200 once empty
        self.delay = 0.0
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                hook.requests.append(
                    {"body": body, "content_type": self.headers.get("Content-Type")}
                )
                if hook.delay:
                    time.sleep(hook.delay)
                status = hook.statuses.pop(0) if hook.statuses else 200
                payload = b"ok" if status == 200 else b"error"
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:  # the client timed out and went away
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output quiet

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/T000/B000/secret"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def payloads(self) -> list[dict[str, Any]]:
        return [json.loads(r["body"]) for r in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook() -> Iterator[_Webhook]:
    """A running local webhook receiver."""
    server = _Webhook()
    yield server
    server.close()


def _alert(severity: str = "critical", n_fields: int = 3, **kwargs: Any) -> Alert:
    fields = {f"field_{i:02d}": f"value {i}" for i in range(n_fields)}
    defaults: dict[str, Any] = {
        "kind": "drift_breach",
        "severity": severity,
        "title": "Drift breach in batch 2026-05",
        "text": "42% of feature columns drifted (threshold 30%) & <tenure> moved.",
        "fields": fields,
        "url": "http://localhost:3000/runs/abc",
    }
    defaults.update(kwargs)
    return Alert(**defaults)


def _assert_valid_block_kit(payload: dict[str, Any]) -> None:
    """Slack incoming-webhook limits that would make Slack answer 400."""
    assert isinstance(payload["text"], str) and payload["text"]
    blocks = payload["blocks"]
    assert 1 <= len(blocks) <= 50
    for block in blocks:
        assert block["type"] in {"header", "section", "context", "divider"}
        if block["type"] == "header":
            assert block["text"]["type"] == "plain_text"
            assert 0 < len(block["text"]["text"]) <= 150
        if block["type"] == "section":
            assert "text" in block or "fields" in block
            if "text" in block:
                assert 0 < len(block["text"]["text"]) <= 3000
            if "fields" in block:
                assert 1 <= len(block["fields"]) <= 10
                for item in block["fields"]:
                    assert item["type"] in {"mrkdwn", "plain_text"}
                    assert 0 < len(item["text"]) <= 2000
        if block["type"] == "context":
            assert 1 <= len(block["elements"]) <= 10


# --------------------------------------------------------------------------- alerts


def test_alert_normalises_and_validates() -> None:
    alert = Alert(kind="promotion", severity="info", title="v3 promoted", fields={"auc": 0.84})
    assert alert.kind is AlertKind.PROMOTION
    assert alert.severity is Severity.INFO
    assert alert.fields == {"auc": "0.84"}
    assert alert.to_dict()["kind"] == "promotion"
    with pytest.raises(ValueError):
        Alert(kind="meteor_strike", severity="info", title="x")
    with pytest.raises(ValueError):
        Alert(kind="promotion", severity="fatal", title="x")
    with pytest.raises(ValueError):
        Alert(kind="promotion", severity="info", title="  ")


def test_log_notifier_levels_follow_severity(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="churn_assets.alerts")
    notifier = LogNotifier()
    for severity in ("info", "warning", "critical"):
        notifier.send(_alert(severity=severity))
    levels = [r.levelno for r in caplog.records if r.name == "churn_assets.alerts"]
    assert levels == [logging.INFO, logging.WARNING, logging.CRITICAL]
    record = caplog.records[-1]
    assert "Drift breach in batch 2026-05" in record.getMessage()
    assert "field_00=value 0" in record.getMessage()
    assert record.alert["kind"] == "drift_breach"  # type: ignore[attr-defined]


def test_webhook_payload_shape(webhook: _Webhook) -> None:
    long_value = "x" * 5000
    alert = _alert(n_fields=23, fields={**{f"k{i}": str(i) for i in range(22)}, "long": long_value})
    assert WebhookNotifier(webhook.url).deliver(alert) is True

    assert len(webhook.requests) == 1
    assert webhook.requests[0]["content_type"].startswith("application/json")
    payload = webhook.payloads()[0]
    _assert_valid_block_kit(payload)
    assert "Drift breach in batch 2026-05" in payload["text"]
    assert payload["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Drift breach in batch 2026-05", "emoji": True},
    }
    body = payload["blocks"][1]["text"]["text"]
    assert "&amp; &lt;tenure&gt;" in body  # mrkdwn control characters escaped
    assert "<http://localhost:3000/runs/abc|Details>" in body
    field_sections = [b for b in payload["blocks"] if b["type"] == "section" and "fields" in b]
    assert [len(s["fields"]) for s in field_sections] == [10, 10, 3]
    texts = [f["text"] for s in field_sections for f in s["fields"]]
    for i in range(22):
        assert f"*k{i}*\n{i}" in texts
    assert texts[-1].startswith("*long*\nxxx") and len(texts[-1]) == 2000
    context = payload["blocks"][-1]
    assert context["type"] == "context"
    assert "drift_breach" in context["elements"][0]["text"]
    assert "critical" in context["elements"][0]["text"]


def test_payload_limits_hold_for_huge_alerts() -> None:
    alert = _alert(title="T" * 400, text="y" * 10_000, n_fields=700)
    payload = slack_payload(alert)
    _assert_valid_block_kit(payload)
    assert json.loads(json.dumps(payload)) == payload
    # Without text or url the body section is left out (Slack rejects an empty one).
    bare = slack_payload(Alert(kind="rollback", severity="warning", title="Rolled back"))
    _assert_valid_block_kit(bare)
    assert [b["type"] for b in bare["blocks"]] == ["header", "context"]


def test_webhook_retries_a_500_then_succeeds(
    webhook: _Webhook, caplog: pytest.LogCaptureFixture
) -> None:
    webhook.statuses = [500]
    notifier = WebhookNotifier(webhook.url, retries=2, backoff=0.01)
    with caplog.at_level(logging.WARNING):
        assert notifier.deliver(_alert()) is True
    assert len(webhook.requests) == 2
    assert webhook.payloads()[0] == webhook.payloads()[1]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_webhook_gives_up_without_raising_and_logs(
    webhook: _Webhook, caplog: pytest.LogCaptureFixture
) -> None:
    webhook.statuses = [503, 500, 502, 500]
    notifier = WebhookNotifier(webhook.url, retries=2, backoff=0.01)
    caplog.set_level(logging.INFO)
    notifier.send(_alert())  # must not raise
    assert len(webhook.requests) == 3  # first attempt + 2 retries
    warnings = [r for r in caplog.records if r.name == notify.__name__]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
    message = warnings[0].getMessage()
    assert "after 3 attempt(s)" in message and "HTTP 502" in message
    assert "secret" not in message  # the webhook URL's secret path is not logged
    fallback = [r for r in caplog.records if r.name == "churn_assets.alerts"]
    assert len(fallback) == 1 and fallback[0].levelno == logging.CRITICAL


def test_webhook_does_not_retry_client_errors(
    webhook: _Webhook, caplog: pytest.LogCaptureFixture
) -> None:
    webhook.statuses = [400]
    with caplog.at_level(logging.WARNING):
        assert WebhookNotifier(webhook.url, backoff=0.01).deliver(_alert()) is False
    assert len(webhook.requests) == 1
    assert any("HTTP 400" in r.getMessage() for r in caplog.records)


def test_unreachable_webhook_does_not_raise(caplog: pytest.LogCaptureFixture) -> None:
    url = f"http://127.0.0.1:{free_port()}/hook"
    notifier = WebhookNotifier(url, timeout=1, retries=1, backoff=0.01)
    with caplog.at_level(logging.WARNING):
        notifier.send(_alert())
        assert notifier.deliver(_alert()) is False
    assert any(
        "not delivered" in r.getMessage() and "after 2 attempt(s)" in r.getMessage()
        for r in caplog.records
    )


def test_webhook_timeout_is_retried_then_logged(
    webhook: _Webhook, caplog: pytest.LogCaptureFixture
) -> None:
    webhook.delay = 0.5
    notifier = WebhookNotifier(webhook.url, timeout=0.1, retries=1, backoff=0.01)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING):
        assert notifier.deliver(_alert()) is False
    assert time.monotonic() - started < 3
    assert len(webhook.requests) == 2
    assert any("not delivered" in r.getMessage() for r in caplog.records)


def test_webhook_rejects_non_http_urls() -> None:
    with pytest.raises(ValueError):
        WebhookNotifier("file:///etc/passwd")
    with pytest.raises(ValueError):
        WebhookNotifier("not a url")


class _Recorder:
    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    def send(self, alert: Alert) -> None:
        self.alerts.append(alert)


class _Broken:
    def send(self, alert: Alert) -> None:
        raise RuntimeError("boom")


def test_composite_sends_to_all_even_if_one_fails(caplog: pytest.LogCaptureFixture) -> None:
    first, last = _Recorder(), _Recorder()
    composite = CompositeNotifier([first, _Broken(), last])
    assert isinstance(composite, Notifier)
    with caplog.at_level(logging.WARNING):
        composite.send(_alert())
    assert len(first.alerts) == len(last.alerts) == 1
    assert any("failed for alert" in r.getMessage() for r in caplog.records)


def test_min_severity_filter() -> None:
    recorder = _Recorder()
    notifier = SeverityFilter(recorder, "warning")
    for severity in ("info", "warning", "critical", "info"):
        notifier.send(_alert(severity=severity))
    assert [a.severity for a in recorder.alerts] == [Severity.WARNING, Severity.CRITICAL]


def test_notifier_from_env_choices(caplog: pytest.LogCaptureFixture) -> None:
    assert isinstance(notifier_from_env({}), LogNotifier)

    with_hook = notifier_from_env({"CHURN_ALERT_WEBHOOK_URL": "https://hooks.slack.com/x/y"})
    assert isinstance(with_hook, CompositeNotifier)
    log, hook = with_hook.notifiers
    assert isinstance(log, LogNotifier) and isinstance(hook, WebhookNotifier)
    assert hook.url == "https://hooks.slack.com/x/y"
    assert hook.fallback is None  # the LogNotifier beside it already logs every alert

    filtered = notifier_from_env({"CHURN_ALERT_MIN_SEVERITY": " Critical "})
    assert isinstance(filtered, SeverityFilter)
    assert filtered.min_severity is Severity.CRITICAL
    assert isinstance(filtered.inner, LogNotifier)
    assert isinstance(notifier_from_env({"CHURN_ALERT_MIN_SEVERITY": "info"}), LogNotifier)

    with caplog.at_level(logging.WARNING):
        assert isinstance(notifier_from_env({"CHURN_ALERT_MIN_SEVERITY": "loud"}), LogNotifier)
        assert isinstance(notifier_from_env({"CHURN_ALERT_WEBHOOK_URL": "ftp://x"}), LogNotifier)
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "CHURN_ALERT_MIN_SEVERITY" in messages and "CHURN_ALERT_WEBHOOK_URL" in messages


def test_notifier_from_env_defaults_to_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHURN_ALERT_WEBHOOK_URL", raising=False)
    monkeypatch.setenv("CHURN_ALERT_MIN_SEVERITY", "warning")
    notifier = notifier_from_env()
    assert isinstance(notifier, SeverityFilter) and isinstance(notifier.inner, LogNotifier)


def test_env_notifier_end_to_end(webhook: _Webhook, caplog: pytest.LogCaptureFixture) -> None:
    notifier = notifier_from_env(
        {"CHURN_ALERT_WEBHOOK_URL": webhook.url, "CHURN_ALERT_MIN_SEVERITY": "warning"}
    )
    caplog.set_level(logging.INFO, logger="churn_assets.alerts")
    notifier.send(_alert(severity="info", title="dropped"))
    notifier.send(_alert(severity="warning", title="Retrain triggered", kind="retrain_triggered"))
    assert [p["blocks"][0]["text"]["text"] for p in webhook.payloads()] == ["Retrain triggered"]
    assert [r.getMessage().split(" | ")[0] for r in caplog.records] == [
        "[retrain_triggered] Retrain triggered"
    ]


# --------------------------------------------------------------------------- prometheus


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
