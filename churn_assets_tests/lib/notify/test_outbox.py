"""The sensors' alert outbox against a real local webhook that is slow, then failing, then
healthy: a flush spends at most its deadline (counted in attempts, not timed), stops at the
first failure, keeps what it could not send in the cursor, and sends it later, in order."""

from __future__ import annotations

import json
import logging

import pytest

from churn_assets.lib.notify.outbox import MAX_PENDING, Outbox, QueuedNotifier, deadline_seconds
from churn_assets_tests.lib.notify.helpers import Webhook, make_alert

pytestmark = [pytest.mark.faults, pytest.mark.slow]


def _titles(webhook: Webhook) -> list[str]:
    return [p["blocks"][0]["text"]["text"] for p in webhook.payloads()]


def test_a_slow_then_failing_webhook_costs_one_short_attempt_per_flush(
    webhook: Webhook, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    notifier = QueuedNotifier(Outbox(), webhook.url)
    for i in range(5):
        notifier.send(make_alert(title=f"alert {i}"))
    # Every alert is in the log at once, whatever the webhook does.
    assert sum(hasattr(r, "alert") for r in caplog.records) == 5

    webhook.delay = 2.0  # slower than the whole deadline
    slow = notifier.flush(deadline=0.3)
    # One attempt (cut to the deadline) and then stop: not five timeouts, not sixteen seconds
    # of retries per alert.
    assert (slow.sent, slow.failed, slow.left) == (0, 1, 5)
    assert len(webhook.requests) == 1

    webhook.delay = 0.0
    webhook.statuses = [500]
    down = notifier.flush(deadline=5.0)
    assert (down.sent, down.failed, down.left) == (0, 1, 5)
    assert len(webhook.requests) == 2

    # The queue survives the tick as part of the sensor's cursor.
    cursor = notifier.outbox.into_cursor(json.dumps({"accepted": {}, "v": 1}))
    assert json.loads(cursor)["v"] == 1
    restored = QueuedNotifier(Outbox.from_cursor(cursor), webhook.url)
    assert [a["attempts"] for a in restored.outbox.pending] == [2, 0, 0, 0, 0]
    healthy = restored.flush(deadline=5.0)
    assert (healthy.sent, healthy.failed, healthy.left) == (5, 0, 0)
    # In order; the first one reached the (slow) server once before: at least once.
    assert _titles(webhook)[-5:] == [f"alert {i}" for i in range(5)]
    assert "outbox" not in json.loads(restored.outbox.into_cursor(cursor))


def test_without_a_webhook_nothing_is_queued_and_the_queue_is_bounded(
    webhook: Webhook, monkeypatch: pytest.MonkeyPatch
) -> None:
    log_only = QueuedNotifier(Outbox(), "")
    log_only.send(make_alert())
    assert log_only.outbox.pending == [] and log_only.flush().left == 0
    quiet = QueuedNotifier(Outbox(), webhook.url, min_severity="critical")
    quiet.send(make_alert(severity="warning"))
    assert quiet.outbox.pending == []
    full = Outbox()
    for i in range(MAX_PENDING + 3):
        full.add(make_alert(title=f"alert {i}"))
    assert len(full.pending) == MAX_PENDING and full.pending[0]["title"] == "alert 3"
    monkeypatch.setenv("CHURN_ALERT_TICK_DEADLINE_SECONDS", "2.5")
    assert deadline_seconds() == 2.5
    monkeypatch.setenv("CHURN_ALERT_TICK_DEADLINE_SECONDS", "soon")
    with pytest.raises(ValueError, match="CHURN_ALERT_TICK_DEADLINE_SECONDS"):
        deadline_seconds()
    assert Outbox.from_cursor("not json").pending == []
