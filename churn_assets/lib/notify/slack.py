"""The Slack incoming-webhook payload of an alert, within every Block Kit limit."""

from __future__ import annotations

from typing import Any

from churn_assets.lib.notify.alert import Alert, Severity

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


_SEVERITY_EMOJI = {
    Severity.INFO: ":information_source:",
    Severity.WARNING: ":warning:",
    Severity.CRITICAL: ":rotating_light:",
}


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
