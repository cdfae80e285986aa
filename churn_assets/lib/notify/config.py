"""Which notifier the configuration asks for: a webhook URL and a minimum severity, given
directly (the ``alerts`` resource) or through the environment."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from churn_assets.lib.notify.alert import Severity
from churn_assets.lib.notify.notifiers import (
    CompositeNotifier,
    LogNotifier,
    Notifier,
    SeverityFilter,
)
from churn_assets.lib.notify.webhook import WebhookNotifier

logger = logging.getLogger(__name__)

WEBHOOK_URL_ENV_VAR = "CHURN_ALERT_WEBHOOK_URL"
MIN_SEVERITY_ENV_VAR = "CHURN_ALERT_MIN_SEVERITY"


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
