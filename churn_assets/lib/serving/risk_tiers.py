"""Risk tiers: ``high`` where a retention offer pays (the decision threshold), ``medium`` on the
watch list below it, ``low`` otherwise. One rule for the service and batch scoring."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

RiskTier = Literal["low", "medium", "high"]


def risk_tier(p: float, threshold: float, medium_threshold: float) -> RiskTier:
    """``high`` where an offer pays (p >= threshold), ``medium`` on the watch list below it."""
    if p >= threshold:
        return "high"
    if p >= medium_threshold:
        return "medium"
    return "low"


def risk_tiers(p: np.ndarray, threshold: float, medium_threshold: float) -> np.ndarray:
    """Vectorised :func:`risk_tier`."""
    return np.where(p >= threshold, "high", np.where(p >= medium_threshold, "medium", "low"))


def risk_tier_codes(p: np.ndarray, threshold: Any, medium_threshold: float) -> np.ndarray:
    """:func:`risk_tier` as codes (0 low, 1 medium, 2 high); ``threshold`` may be one value
    or one per row (the model that answered it)."""
    return np.where(p >= threshold, 2, np.where(p >= medium_threshold, 1, 0)).astype(np.int8)
