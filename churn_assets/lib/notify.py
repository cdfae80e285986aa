"""Alerts: what the platform tells people, and pluggable ways to deliver it.

An :class:`Alert` is plain data. A :class:`Notifier` delivers it: :class:`LogNotifier` (the
default, Python ``logging``), :class:`WebhookNotifier` (a Slack-compatible incoming webhook),
:class:`CompositeNotifier` (several at once) and :class:`SeverityFilter` (drop minor alerts).
:func:`notifier_from_env` builds the configured one.

Delivery never raises into the caller: an alert is a side effect of a check, a drift report or
a promotion, and a broken webhook must not fail the pipeline run that produced it. HTTP uses
``urllib.request`` from the standard library so alerting adds no dependency.
"""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

logger = logging.getLogger(__name__)

WEBHOOK_URL_ENV_VAR = "CHURN_ALERT_WEBHOOK_URL"
MIN_SEVERITY_ENV_VAR = "CHURN_ALERT_MIN_SEVERITY"

# Slack Block Kit limits (https://api.slack.com/reference/block-kit/blocks); a payload over any
# of them is rejected with HTTP 400 and the alert is lost, so they are enforced when building.
_MAX_BLOCKS = 50
_MAX_HEADER_CHARS = 150
_MAX_SECTION_TEXT_CHARS = 3000
_MAX_FIELDS_PER_SECTION = 10
_MAX_FIELD_CHARS = 2000
_MAX_CONTEXT_CHARS = 2000
# The top-level "text" is the notification/fallback line; keep it short.
_MAX_FALLBACK_CHARS = 3000


class AlertKind(StrEnum):
    """What happened."""

    CHECK_FAILED = "check_failed"
    DRIFT_BREACH = "drift_breach"
    RETRAIN_TRIGGERED = "retrain_triggered"
    PROMOTION = "promotion"
    ROLLBACK = "rollback"
    RUN_FAILURE = "run_failure"
    INGEST_REJECTED = "ingest_rejected"


class Severity(StrEnum):
    """How urgent it is, lowest first."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0 for info, 1 for warning, 2 for critical (for comparisons)."""
        return _SEVERITY_RANK[self]

    @property
    def log_level(self) -> int:
        """The ``logging`` level an alert of this severity is logged at."""
        return _SEVERITY_LOG_LEVEL[self]


_SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}
_SEVERITY_LOG_LEVEL = {
    Severity.INFO: logging.INFO,
    Severity.WARNING: logging.WARNING,
    Severity.CRITICAL: logging.CRITICAL,
}
_SEVERITY_EMOJI = {
    Severity.INFO: ":information_source:",
    Severity.WARNING: ":warning:",
    Severity.CRITICAL: ":rotating_light:",
}


@dataclass(frozen=True)
class Alert:
    """One alert.

    Attributes:
        kind: What happened; a string is converted to :class:`AlertKind`.
        severity: ``"info"``, ``"warning"`` or ``"critical"``; a string is converted.
        title: One line, e.g. ``"Drift breach in batch 2026-05"``. Must not be empty.
        text: The explanation (plain text; Slack markup characters are escaped on delivery).
        fields: Key facts shown as a table, e.g. ``{"batch": "2026-05", "drift_share": "0.42"}``;
            values are converted to strings.
        url: Optional link for details (Dagster run, report, MLflow run).

    Raises:
        ValueError: On an unknown kind or severity, or an empty title.
    """

    kind: AlertKind
    severity: Severity
    title: str
    text: str = ""
    fields: dict[str, str] = field(default_factory=dict)
    url: str | None = None

    def __post_init__(self) -> None:
        # Frozen dataclass: normalise through object.__setattr__ once, at construction.
        object.__setattr__(self, "kind", AlertKind(self.kind))
        object.__setattr__(self, "severity", Severity(self.severity))
        if not str(self.title).strip():
            raise ValueError("an alert needs a non-empty title")
        object.__setattr__(self, "title", str(self.title))
        object.__setattr__(self, "text", str(self.text or ""))
        object.__setattr__(self, "fields", {str(k): str(v) for k, v in dict(self.fields).items()})

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the alert."""
        return {
            "kind": str(self.kind),
            "severity": str(self.severity),
            "title": self.title,
            "text": self.text,
            "fields": dict(self.fields),
            "url": self.url,
        }


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


def _escape_mrkdwn(text: str) -> str:
    # Slack treats &, < and > as control characters in mrkdwn; everything else is literal.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack_payload(alert: Alert) -> dict[str, Any]:
    """The Slack incoming-webhook JSON body for an alert.

    Layout: a header block with the title, a section with the text (and link), sections of at
    most 10 fields each, and a context line with kind and severity. Every Block Kit limit is
    respected (header 150 chars, section text 3000, 10 fields of 2000 chars per section, 50
    blocks), clipping text where needed, so Slack never rejects an alert for its size.

    Args:
        alert: The alert.

    Returns:
        ``{"text": ..., "blocks": [...]}``; ``text`` is the notification fallback line.
    """
    severity = alert.severity
    fallback = f"{_SEVERITY_EMOJI[severity]} [{severity.upper()}] {alert.title}"
    if alert.text:
        fallback += f": {alert.text}"
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": _clip(f"{alert.title}", _MAX_HEADER_CHARS),
                "emoji": True,
            },
        }
    ]
    body = _escape_mrkdwn(alert.text) if alert.text else ""
    if alert.url:
        link = f"<{alert.url}|Details>"
        body = f"{_clip(body, _MAX_SECTION_TEXT_CHARS - len(link) - 2)}\n{link}" if body else link
    if body:
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": _clip(body, _MAX_SECTION_TEXT_CHARS)},
            }
        )
    items = [
        {
            "type": "mrkdwn",
            "text": _clip(f"*{_escape_mrkdwn(k)}*\n{_escape_mrkdwn(v)}", _MAX_FIELD_CHARS),
        }
        for k, v in alert.fields.items()
    ]
    # Leave room for the context block; fields beyond 50 blocks' worth are dropped (and the
    # log notifier still has them all).
    max_field_sections = _MAX_BLOCKS - len(blocks) - 1
    for start in range(0, len(items), _MAX_FIELDS_PER_SECTION)[:max_field_sections]:
        blocks.append({"type": "section", "fields": items[start : start + _MAX_FIELDS_PER_SECTION]})
    blocks.append(
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": _clip(
                        f"{_SEVERITY_EMOJI[severity]} severity: *{severity}*"
                        f"  ·  kind: `{alert.kind}`  ·  churn-platform",
                        _MAX_CONTEXT_CHARS,
                    ),
                }
            ],
        }
    )
    return {"text": _clip(fallback, _MAX_FALLBACK_CHARS), "blocks": blocks}


def _redact(url: str) -> str:
    # Slack webhook URLs embed their secret in the path; log only scheme and host.
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/…"


class WebhookNotifier:
    """Posts alerts to a Slack-compatible incoming webhook, retrying briefly, never raising.

    A 5xx or 429 response, a connection error or a timeout is retried ``retries`` times with
    exponential backoff (``backoff``, ``2 * backoff``, ...). Other 4xx responses are not retried
    (the payload or URL is wrong; repeating will not help). When delivery finally fails, a
    warning is logged and, with ``fallback_to_log``, the alert itself is logged so it is not
    lost.

    Args:
        url: The webhook URL (``http`` or ``https``).
        timeout: Seconds per HTTP attempt.
        retries: Extra attempts after the first.
        backoff: Seconds before the first retry; doubles each retry.
        fallback_to_log: Log the alert when delivery fails. :func:`notifier_from_env` turns
            this off because its :class:`LogNotifier` has already logged the alert.

    Raises:
        ValueError: If ``url`` is not an http(s) URL (urllib would otherwise happily open
            ``file://`` URLs).
    """

    def __init__(
        self,
        url: str,
        timeout: float = 5,
        retries: int = 2,
        *,
        backoff: float = 0.5,
        fallback_to_log: bool = True,
    ) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"webhook URL must be http(s)://host/..., got {_redact(url)!r}")
        if retries < 0:
            raise ValueError("retries must be >= 0")
        self.url = url
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.fallback = LogNotifier() if fallback_to_log else None

    def send(self, alert: Alert) -> None:
        """Deliver ``alert``; failures are logged, never raised."""
        self.deliver(alert)

    def deliver(self, alert: Alert) -> bool:
        """Deliver ``alert`` and report whether the webhook accepted it.

        Args:
            alert: The alert.

        Returns:
            True on a 2xx response, False when every attempt failed (already logged).
        """
        try:
            data = json.dumps(slack_payload(alert)).encode("utf-8")
        except Exception:  # an alert must never fail its caller
            logger.warning("could not build the webhook payload for %r", alert.title, exc_info=True)
            self._fall_back(alert)
            return False
        attempts = self.retries + 1
        last_error = "no attempt made"
        for attempt in range(attempts):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            retryable, last_error = self._post(data)
            if not last_error:
                return True
            if not retryable:
                break
        logger.warning(
            "alert %r not delivered to webhook %s after %d attempt(s): %s",
            alert.title,
            _redact(self.url),
            attempt + 1,
            last_error,
        )
        self._fall_back(alert)
        return False

    def _post(self, data: bytes) -> tuple[bool, str]:
        """One POST. Returns (retryable, error); error is empty on success."""
        request = urllib.request.Request(
            self.url,
            data=data,
            headers={"Content-Type": "application/json; charset=utf-8"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read()
                return False, ""
        except urllib.error.HTTPError as error:
            # Slack answers 429 (rate limited) and 5xx when a retry may succeed.
            retryable = error.code >= 500 or error.code == 429
            return retryable, f"HTTP {error.code} {error.reason}"
        except (urllib.error.URLError, OSError) as error:
            # Connection refused, DNS failure, TLS error, timeout (socket.timeout is an OSError).
            reason = getattr(error, "reason", error)
            return True, f"{type(error).__name__}: {reason}"
        except Exception as error:  # an alert must never fail its caller
            return False, f"{type(error).__name__}: {error}"

    def _fall_back(self, alert: Alert) -> None:
        if self.fallback is not None:
            self.fallback.send(alert)

    def __repr__(self) -> str:
        return f"WebhookNotifier(url={_redact(self.url)!r}, retries={self.retries})"


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


def build_notifier(webhook_url: str = "", min_severity: str = "info") -> Notifier:
    """The notifier for a webhook URL (empty: none) and a minimum severity.

    * Without a URL: a :class:`LogNotifier`.
    * With one: a :class:`CompositeNotifier` of a :class:`LogNotifier` and a
      :class:`WebhookNotifier` (so alerts also stay in the run logs).
    * A minimum severity (case-insensitive) other than ``info`` wraps the result in a
      :class:`SeverityFilter`.

    Misconfiguration (a non-http URL, an unknown severity) logs a warning and falls back to the
    defaults instead of raising, for the same reason delivery never raises.
    """
    notifier: Notifier = LogNotifier()
    url = (webhook_url or "").strip()
    if url:
        try:
            webhook = WebhookNotifier(url, fallback_to_log=False)
        except ValueError as error:
            logger.warning("%s ignored: %s", WEBHOOK_URL_ENV_VAR, error)
        else:
            notifier = CompositeNotifier([notifier, webhook])

    raw_severity = (min_severity or Severity.INFO).strip().lower()
    try:
        severity = Severity(raw_severity)
    except ValueError:
        logger.warning(
            "%s=%r is not one of %s; using info",
            MIN_SEVERITY_ENV_VAR,
            raw_severity,
            ", ".join(s.value for s in Severity),
        )
        severity = Severity.INFO
    if severity is not Severity.INFO:
        notifier = SeverityFilter(notifier, severity)
    return notifier


def notifier_from_env(env: Mapping[str, str] | None = None) -> Notifier:
    """The notifier ``CHURN_ALERT_WEBHOOK_URL`` and ``CHURN_ALERT_MIN_SEVERITY`` ask for
    (see :func:`build_notifier`).

    Args:
        env: Environment mapping; defaults to ``os.environ``.
    """
    env = os.environ if env is None else env
    return build_notifier(env.get(WEBHOOK_URL_ENV_VAR, ""), env.get(MIN_SEVERITY_ENV_VAR, "info"))
