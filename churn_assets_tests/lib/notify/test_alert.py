"""Alerts are plain data, normalised and validated on construction."""

from __future__ import annotations

import pytest

from churn_assets.lib.notify import Alert, AlertKind, Severity


def test_alert_normalises_and_validates() -> None:
    alert = Alert(kind="promotion", severity="info", title="v3 promoted", fields={"auc": 0.84})
    assert alert.kind is AlertKind.PROMOTION
    assert alert.severity is Severity.INFO
    assert alert.fields == {"auc": "0.84"}
    assert alert.to_dict()["kind"] == "promotion"
    with pytest.raises(ValueError):
        Alert(kind="meteor_strike", severity="info", title="x")
    with pytest.raises(ValueError):
        Alert(kind="promotion", severity="fatal", title="x")
    with pytest.raises(ValueError):
        Alert(kind="promotion", severity="info", title="  ")
