"""The notifier the configuration (arguments or environment) asks for."""

from __future__ import annotations

import logging

import pytest

from churn_assets.lib.notify import (
    CompositeNotifier,
    LogNotifier,
    Severity,
    SeverityFilter,
    WebhookNotifier,
    notifier_from_env,
)
from churn_assets_tests.lib.notify.helpers import Webhook, make_alert


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


def test_env_notifier_end_to_end(webhook: Webhook, caplog: pytest.LogCaptureFixture) -> None:
    notifier = notifier_from_env(
        {"CHURN_ALERT_WEBHOOK_URL": webhook.url, "CHURN_ALERT_MIN_SEVERITY": "warning"}
    )
    caplog.set_level(logging.INFO, logger="churn_assets.alerts")
    notifier.send(make_alert(severity="info", title="dropped"))
    notifier.send(
        make_alert(severity="warning", title="Retrain triggered", kind="retrain_triggered")
    )
    assert [p["blocks"][0]["text"]["text"] for p in webhook.payloads()] == ["Retrain triggered"]
    assert [r.getMessage().split(" | ")[0] for r in caplog.records] == [
        "[retrain_triggered] Retrain triggered"
    ]
