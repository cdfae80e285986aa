"""Alerts from sensors: logged at once, delivered to the webhook later, within a deadline.

A Dagster sensor tick has 60 seconds (``DEFAULT_SENSOR_GRPC_TIMEOUT``) before the daemon gives
up on it, and :class:`~churn_assets.lib.notify.webhook.WebhookNotifier` retries for up to ~16 s
per alert: five alerts to a slow webhook would time the tick out, and its run requests and
cursor with it. So a sensor never posts inline. It queues: :class:`QueuedNotifier` logs each
alert at once (cheap, never fails: the alert is in the sensor's log whatever the webhook
does) and keeps it in an :class:`Outbox`, stored in the sensor's cursor beside the sensor's
own state. At the end of the tick :meth:`QueuedNotifier.flush` posts what it can within
``deadline`` seconds in total, one attempt each, and stops at the first failure (a webhook
that is down would fail the rest too); what is left waits for the next tick, oldest first.
Nothing is dropped while fewer than :data:`MAX_PENDING` alerts wait; beyond that the oldest
go (they are in the log already), with a warning, so the cursor stays small.

Delivery is at least once: an attempt that timed out may have reached the webhook, and is
sent again.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from churn_assets.lib.notify.alert import Alert, Severity
from churn_assets.lib.notify.notifiers import LogNotifier
from churn_assets.lib.notify.webhook import WebhookNotifier

logger = logging.getLogger(__name__)

OUTBOX_KEY = "outbox"  # the key of the queue in a sensor's (JSON object) cursor
MAX_PENDING = 200
DEADLINE_ENV_VAR = "CHURN_ALERT_TICK_DEADLINE_SECONDS"
# Of a sensor's 60 s, the alerts get this much per tick; listing the landing location and
# looking up runs have the rest.
DEFAULT_DEADLINE_SECONDS = 10.0
ATTEMPT_TIMEOUT_SECONDS = 5.0  # one POST at most; less when the deadline is nearer


def deadline_seconds(environ: Mapping[str, str] | None = None) -> float:
    """``$CHURN_ALERT_TICK_DEADLINE_SECONDS`` (default 10): webhook time per sensor tick.

    Raises:
        ValueError: when the variable is set to something that is not a number >= 0.
    """
    raw = (os.environ if environ is None else environ).get(DEADLINE_ENV_VAR, "").strip()
    if not raw:
        return DEFAULT_DEADLINE_SECONDS
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value < 0:
        raise ValueError(f"{DEADLINE_ENV_VAR} must be seconds >= 0, got {raw!r}")
    return value


@dataclass(frozen=True)
class Delivery:
    """What one flush did: alerts delivered, attempts failed, alerts still waiting."""

    sent: int
    failed: int
    left: int


@dataclass
class Outbox:
    """Alerts waiting for the webhook, oldest first (each an :meth:`Alert.to_dict` plus the
    number of failed ``attempts``)."""

    pending: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_cursor(cls, cursor: str | None) -> Outbox:
        """The queue stored in a sensor's JSON-object cursor (empty when there is none)."""
        try:
            state = json.loads(cursor) if cursor else {}
        except ValueError:
            return cls()
        queued = state.get(OUTBOX_KEY) if isinstance(state, dict) else None
        return cls([dict(a) for a in queued if isinstance(a, dict)] if queued else [])

    def into_cursor(self, cursor: str | None) -> str:
        """The sensor's cursor (a JSON object, or empty) with this queue stored in it."""
        state = json.loads(cursor) if cursor else {}
        if self.pending:
            state[OUTBOX_KEY] = self.pending
        else:
            state.pop(OUTBOX_KEY, None)
        return json.dumps(state, separators=(",", ":"), sort_keys=True)

    def add(self, alert: Alert) -> None:
        """Queue an alert; past :data:`MAX_PENDING` the oldest is let go (it was logged)."""
        self.pending.append({**alert.to_dict(), "attempts": 0})
        while len(self.pending) > MAX_PENDING:
            gone = self.pending.pop(0)
            logger.warning(
                "alert outbox full (%d): %r not sent to the webhook (it is in the log)",
                MAX_PENDING,
                gone.get("title"),
            )

    def drain(
        self,
        deliver: Callable[[Alert, float], bool],
        deadline: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> Delivery:
        """Deliver queued alerts in order until one fails or ``deadline`` seconds are spent.

        Args:
            deliver: Posts one alert with the given timeout (seconds); True when accepted.
            deadline: Total seconds this call may spend (each attempt's timeout is cut to
                what is left, so the call ends within about ``deadline``).
            clock: Monotonic seconds (a parameter for tests).
        """
        start, sent, failed = clock(), 0, 0
        while self.pending:
            left = deadline - (clock() - start)
            if left <= 0.05:
                break
            entry = self.pending[0]
            alert = Alert(
                **{k: entry[k] for k in ("kind", "severity", "title", "text")},
                fields=entry.get("fields") or {},
                url=entry.get("url"),
            )
            if deliver(alert, min(ATTEMPT_TIMEOUT_SECONDS, left)):
                self.pending.pop(0)
                sent += 1
                continue
            entry["attempts"] = int(entry.get("attempts", 0)) + 1
            failed += 1
            break  # the webhook is slow or down: the rest would fail the same way
        return Delivery(sent=sent, failed=failed, left=len(self.pending))


class QueuedNotifier:
    """A sensor's notifier: logs every alert at once, queues it for the webhook.

    Args:
        outbox: The queue (from the sensor's cursor).
        webhook_url: The webhook; empty means the log only (nothing is queued).
        min_severity: Alerts below it are neither logged nor queued.
    """

    def __init__(self, outbox: Outbox, webhook_url: str = "", min_severity: str = "info"):
        self.outbox = outbox
        self.log = LogNotifier()
        try:
            self.min_severity = Severity((min_severity or "info").strip().lower())
        except ValueError:
            logger.warning("minimum severity %r is unknown; using info", min_severity)
            self.min_severity = Severity.INFO
        self.webhook: WebhookNotifier | None = None
        if (webhook_url or "").strip():
            try:
                self.webhook = WebhookNotifier(
                    webhook_url.strip(), retries=0, fallback_to_log=False
                )
            except ValueError as error:
                logger.warning("webhook ignored: %s", error)

    def send(self, alert: Alert) -> None:
        """Log ``alert`` now and queue it for the webhook."""
        if alert.severity.rank < self.min_severity.rank:
            return
        self.log.send(alert)
        if self.webhook is not None:
            self.outbox.add(alert)

    def flush(self, deadline: float | None = None) -> Delivery:
        """Post queued alerts within ``deadline`` seconds (default :func:`deadline_seconds`)."""
        if self.webhook is None:
            self.outbox.pending.clear()  # no webhook (any more): the log has them all
            return Delivery(0, 0, 0)
        webhook = self.webhook

        def deliver(alert: Alert, timeout: float) -> bool:
            webhook.timeout = timeout
            return webhook.deliver(alert)

        return self.outbox.drain(deliver, deadline_seconds() if deadline is None else deadline)
