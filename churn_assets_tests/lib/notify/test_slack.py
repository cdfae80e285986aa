"""The Slack payload stays within every Block Kit limit."""

from __future__ import annotations

import json

from churn_assets.lib.notify import Alert, slack_payload
from churn_assets_tests.lib.notify.helpers import assert_valid_block_kit, make_alert


def test_payload_limits_hold_for_huge_alerts() -> None:
    alert = make_alert(title="T" * 400, text="y" * 10_000, n_fields=700)
    payload = slack_payload(alert)
    assert_valid_block_kit(payload)
    assert json.loads(json.dumps(payload)) == payload
    # Without text or url the body section is left out (Slack rejects an empty one).
    bare = slack_payload(Alert(kind="rollback", severity="warning", title="Rolled back"))
    assert_valid_block_kit(bare)
    assert [b["type"] for b in bare["blocks"]] == ["header", "context"]
