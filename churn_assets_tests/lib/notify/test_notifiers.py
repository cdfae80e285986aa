"""The log notifier, several notifiers at once, and the severity filter."""

from __future__ import annotations

import logging

import pytest

from churn_assets.lib.notify import (
    Alert,
    CompositeNotifier,
    LogNotifier,
    Notifier,
    Severity,
    SeverityFilter,
)
from churn_assets_tests.lib.notify.helpers import make_alert


def test_log_notifier_levels_follow_severity(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="churn_assets.alerts")
    notifier = LogNotifier()
    for severity in ("info", "warning", "critical"):
        notifier.send(make_alert(severity=severity))
    levels = [r.levelno for r in caplog.records if r.name == "churn_assets.alerts"]
    assert levels == [logging.INFO, logging.WARNING, logging.CRITICAL]
    record = caplog.records[-1]
    assert "Drift breach in batch 2026-05" in record.getMessage()
    assert "field_00=value 0" in record.getMessage()
    assert record.alert["kind"] == "drift_breach"  # type: ignore[attr-defined]


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
        composite.send(make_alert())
    assert len(first.alerts) == len(last.alerts) == 1
    assert any("failed for alert" in r.getMessage() for r in caplog.records)


def test_min_severity_filter() -> None:
    recorder = _Recorder()
    notifier = SeverityFilter(recorder, "warning")
    for severity in ("info", "warning", "critical", "info"):
        notifier.send(make_alert(severity=severity))
    assert [a.severity for a in recorder.alerts] == [Severity.WARNING, Severity.CRITICAL]
