"""Delivery to a Slack-compatible incoming webhook, with retries, never raising.

HTTP uses ``urllib.request`` from the standard library so alerting adds no dependency.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request

from churn_assets.lib.notify.alert import Alert
from churn_assets.lib.notify.notifiers import LogNotifier
from churn_assets.lib.notify.slack import slack_payload

logger = logging.getLogger(__name__)


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
