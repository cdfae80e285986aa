"""The landing sensor's cursor: a compact JSON shape, read back exactly, and refused (not
silently reset, which would re-ingest every month) when it is not a cursor."""

from __future__ import annotations

import pytest

from churn_assets.lib.monitoring.landing_cursor import LandingCursor


def test_cursor_json_shape_and_tolerance() -> None:
    cursor = LandingCursor(
        accepted={"a_2026-01.csv": "10-1"},
        rejected={"b.csv": "0-2"},
        pending={"c_2026-02.csv": ("5-3", 1777626000)},
        requested={"d_2026-03.csv": ("7-4", 2, 1777626100)},
    )
    text = cursor.to_json()
    assert text == (
        '{"accepted":{"a_2026-01.csv":"10-1"},"ambiguous":{},'
        '"pending":{"c_2026-02.csv":["5-3",1777626000]},"rejected":{"b.csv":"0-2"},'
        '"requested":{"d_2026-03.csv":["7-4",2,1777626100]},"v":1}'
    )
    assert LandingCursor.from_json(text) == cursor
    # A cursor from before requests were followed up, and one carrying an alert outbox.
    old = '{"accepted":{"a_2026-01.csv":"10-1"},"v":1,"outbox":[{"title":"x"}]}'
    assert LandingCursor.from_json(old) == LandingCursor(accepted={"a_2026-01.csv": "10-1"})
    assert LandingCursor.from_json(None) == LandingCursor.from_json("") == LandingCursor()
    assert LandingCursor.from_json(" ") == LandingCursor()
    for broken in ("{", "[]", '{"v":2}', '{"v":1,"accepted":[]}', '{"v":1,"pending":{"x":1}}'):
        with pytest.raises(ValueError, match="not a landing cursor"):
            LandingCursor.from_json(broken)
