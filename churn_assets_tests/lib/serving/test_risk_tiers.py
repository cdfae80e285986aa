"""Risk tiers at and around their edges, scalar and vectorised alike."""

from __future__ import annotations

import numpy as np

from churn_assets.lib.serving.risk_tiers import risk_tier, risk_tiers


def test_risk_tiers() -> None:
    p = np.array([0.0, 0.149, 0.15, 0.299, 0.3, 1.0])
    assert risk_tiers(p, 0.3, 0.15).tolist() == [
        "low",
        "low",
        "medium",
        "medium",
        "high",
        "high",
    ]
    assert [risk_tier(x, 0.3, 0.15) for x in p] == risk_tiers(p, 0.3, 0.15).tolist()
