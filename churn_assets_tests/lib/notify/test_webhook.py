"""Webhook delivery against a real local server: payload, retries, giving up quietly."""

from __future__ import annotations

import logging
import time

import pytest

from churn_assets.lib.notify import WebhookNotifier
from churn_assets.lib.notify import webhook as webhook_module
from churn_assets_tests.lib.notify.helpers import Webhook, assert_valid_block_kit, make_alert
from churn_assets_tests.servers import free_port


def test_webhook_payload_shape(webhook: Webhook) -> None:
    long_value = "x" * 5000
    alert = make_alert(
        n_fields=23, fields={**{f"k{i}": str(i) for i in range(22)}, "long": long_value}
    )
    assert WebhookNotifier(webhook.url).deliver(alert) is True

    assert len(webhook.requests) == 1
    assert webhook.requests[0]["content_type"].startswith("application/json")
    payload = webhook.payloads()[0]
    assert_valid_block_kit(payload)
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


def test_webhook_retries_a_500_then_succeeds(
    webhook: Webhook, caplog: pytest.LogCaptureFixture
) -> None:
    webhook.statuses = [500]
    notifier = WebhookNotifier(webhook.url, retries=2, backoff=0.01)
    with caplog.at_level(logging.WARNING):
        assert notifier.deliver(make_alert()) is True
    assert len(webhook.requests) == 2
    assert webhook.payloads()[0] == webhook.payloads()[1]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_webhook_gives_up_without_raising_and_logs(
    webhook: Webhook, caplog: pytest.LogCaptureFixture
) -> None:
    webhook.statuses = [503, 500, 502, 500]
    notifier = WebhookNotifier(webhook.url, retries=2, backoff=0.01)
    caplog.set_level(logging.INFO)
    notifier.send(make_alert())  # must not raise
    assert len(webhook.requests) == 3  # first attempt + 2 retries
    warnings = [r for r in caplog.records if r.name == webhook_module.__name__]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
    message = warnings[0].getMessage()
    assert "after 3 attempt(s)" in message and "HTTP 502" in message
    assert "secret" not in message  # the webhook URL's secret path is not logged
    fallback = [r for r in caplog.records if r.name == "churn_assets.alerts"]
    assert len(fallback) == 1 and fallback[0].levelno == logging.CRITICAL


def test_webhook_does_not_retry_client_errors(
    webhook: Webhook, caplog: pytest.LogCaptureFixture
) -> None:
    webhook.statuses = [400]
    with caplog.at_level(logging.WARNING):
        assert WebhookNotifier(webhook.url, backoff=0.01).deliver(make_alert()) is False
    assert len(webhook.requests) == 1
    assert any("HTTP 400" in r.getMessage() for r in caplog.records)


def test_unreachable_webhook_does_not_raise(caplog: pytest.LogCaptureFixture) -> None:
    url = f"http://127.0.0.1:{free_port()}/hook"
    notifier = WebhookNotifier(url, timeout=1, retries=1, backoff=0.01)
    with caplog.at_level(logging.WARNING):
        notifier.send(make_alert())
        assert notifier.deliver(make_alert()) is False
    assert any(
        "not delivered" in r.getMessage() and "after 2 attempt(s)" in r.getMessage()
        for r in caplog.records
    )


def test_webhook_timeout_is_retried_then_logged(
    webhook: Webhook, caplog: pytest.LogCaptureFixture
) -> None:
    webhook.delay = 0.5
    notifier = WebhookNotifier(webhook.url, timeout=0.1, retries=1, backoff=0.01)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING):
        assert notifier.deliver(make_alert()) is False
    assert time.monotonic() - started < 3
    assert len(webhook.requests) == 2
    assert any("not delivered" in r.getMessage() for r in caplog.records)


def test_webhook_rejects_non_http_urls() -> None:
    with pytest.raises(ValueError):
        WebhookNotifier("file:///etc/passwd")
    with pytest.raises(ValueError):
        WebhookNotifier("not a url")
