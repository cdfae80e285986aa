"""Alerts: what the platform tells people, and pluggable ways to deliver it.

An :class:`Alert` is plain data. A :class:`Notifier` delivers it: :class:`LogNotifier` (the
default, Python ``logging``), :class:`WebhookNotifier` (a Slack-compatible incoming webhook),
:class:`CompositeNotifier` (several at once) and :class:`SeverityFilter` (drop minor alerts).
:func:`build_notifier` and :func:`notifier_from_env` build the configured one.

Delivery never raises into the caller: an alert is a side effect of a check, a drift report or
a promotion, and a broken webhook must not fail the pipeline run that produced it.

The names below are the package's API (a custom notifier needs only :class:`Alert` and the
:class:`Notifier` protocol); the modules hold one subject each: ``alert`` (the data),
``notifiers`` (log, composite, filter), ``slack`` (the payload), ``webhook`` (delivery) and
``config`` (the URL and minimum severity, from arguments or the environment).
"""

from churn_assets.lib.notify.alert import Alert, AlertKind, Severity
from churn_assets.lib.notify.config import (
    MIN_SEVERITY_ENV_VAR,
    WEBHOOK_URL_ENV_VAR,
    build_notifier,
    notifier_from_env,
)
from churn_assets.lib.notify.notifiers import (
    CompositeNotifier,
    LogNotifier,
    Notifier,
    SeverityFilter,
)
from churn_assets.lib.notify.slack import slack_payload
from churn_assets.lib.notify.webhook import WebhookNotifier

__all__ = [
    "MIN_SEVERITY_ENV_VAR",
    "WEBHOOK_URL_ENV_VAR",
    "Alert",
    "AlertKind",
    "CompositeNotifier",
    "LogNotifier",
    "Notifier",
    "Severity",
    "SeverityFilter",
    "WebhookNotifier",
    "build_notifier",
    "notifier_from_env",
    "slack_payload",
]
