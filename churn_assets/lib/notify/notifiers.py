"""The :class:`Notifier` protocol and the notifiers that need no network: the log, several at
once, and a severity filter."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Protocol, runtime_checkable

from churn_assets.lib.notify.alert import Alert, Severity

logger = logging.getLogger(__name__)


@runtime_checkable
class Notifier(Protocol):
    """Anything that can deliver an alert. ``send`` must not raise."""

    def send(self, alert: Alert) -> None:
        """Deliver ``alert``."""
        ...


class LogNotifier:
    """Logs alerts through Python ``logging`` at a level matching the severity.

    Info alerts log at INFO, warnings at WARNING, critical alerts at CRITICAL. Inside a Dagster
    run these records show up in the run's event log when the logger is captured.

    Args:
        log: Logger to use; defaults to ``churn_assets.alerts``.
    """

    def __init__(self, log: logging.Logger | None = None) -> None:
        self.log = log or logging.getLogger("churn_assets.alerts")

    def send(self, alert: Alert) -> None:
        """Log ``alert`` (one line, plus the alert dict as ``extra["alert"]``)."""
        parts = [f"[{alert.kind}] {alert.title}"]
        if alert.text:
            parts.append(alert.text)
        if alert.fields:
            parts.append(", ".join(f"{k}={v}" for k, v in alert.fields.items()))
        if alert.url:
            parts.append(alert.url)
        self.log.log(alert.severity.log_level, " | ".join(parts), extra={"alert": alert.to_dict()})

    def __repr__(self) -> str:
        return f"LogNotifier(log={self.log.name!r})"


class CompositeNotifier:
    """Sends each alert to several notifiers; one failing does not stop the others.

    Args:
        notifiers: The notifiers, called in order.
    """

    def __init__(self, notifiers: Iterable[Notifier]) -> None:
        self.notifiers: list[Notifier] = list(notifiers)

    def send(self, alert: Alert) -> None:
        """Send ``alert`` to every notifier, logging (not raising) any that fails."""
        for notifier in self.notifiers:
            try:
                notifier.send(alert)
            except Exception:  # third-party notifiers may break the contract
                logger.warning(
                    "notifier %r failed for alert %r", notifier, alert.title, exc_info=True
                )

    def __repr__(self) -> str:
        return f"CompositeNotifier({self.notifiers!r})"


class SeverityFilter:
    """Passes on only alerts at or above a minimum severity.

    Args:
        inner: Where accepted alerts go.
        min_severity: The lowest severity passed on.
    """

    def __init__(self, inner: Notifier, min_severity: Severity | str) -> None:
        self.inner = inner
        self.min_severity = Severity(min_severity)

    def send(self, alert: Alert) -> None:
        """Forward ``alert`` if it is severe enough, else drop it silently."""
        if alert.severity.rank >= self.min_severity.rank:
            self.inner.send(alert)

    def __repr__(self) -> str:
        return f"SeverityFilter({self.inner!r}, min_severity={str(self.min_severity)!r})"
