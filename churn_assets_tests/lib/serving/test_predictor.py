"""Shadow and A/B routing of the predictor (stand-in scorers: routing is under test, not
models)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from churn_assets.lib.serving.bundle import ModelSlot, ServingMeta
from churn_assets.lib.serving.predictor import Predictor
from churn_assets_tests.lib.serving.test_request_model import CUSTOMER, _with


class _Constant:
    """A stand-in scorer with a fixed score per customer (routing is under test, not models)."""

    def __init__(self, value: float):
        self.value = value

    def predict_proba(self, records: list[dict[str, Any]]) -> np.ndarray:
        return np.full(len(records), self.value)


def _meta(shadow: bool, **split: float) -> ServingMeta:
    return ServingMeta(
        model_name="churn-model",
        champion=ModelSlot("3", "logreg", threshold=0.3, calibration="none"),
        shadow=ModelSlot("4", "xgboost", 0.5, "isotonic") if shadow else None,
        contract_name="telco",
        medium_threshold=0.15,
        **split,
    )


def test_shadow_is_scored_and_logged_but_never_served() -> None:
    predictor = Predictor(_meta(True), _Constant(0.2), _Constant(0.6))
    records = [_with(customerID=f"c{i}") for i in range(20)]
    scored = predictor.score(records, "r1")
    assert {s.slot.version for s in scored} == {"3"}
    assert all(s.probability == 0.2 and s.shadow_probability == 0.6 for s in scored)
    assert all(s.label is False and s.shadow_label is True for s in scored)
    assert {s.tier for s in scored} == {"medium"}
    entries = predictor.log_entries(records, scored, "r1")
    assert entries[0]["shadow_version"] == "4" and entries[0]["shadow_score"] == 0.6
    assert entries[0]["features"]["customerID"] == "c0"


def test_ab_split_is_by_customer_and_near_the_configured_share() -> None:
    predictor = Predictor(_meta(True, ab_share=0.3), _Constant(0.2), _Constant(0.6))
    records = [_with(customerID=f"customer-{i}") for i in range(4000)]
    first = predictor.score(records, "r1")
    again = predictor.score(records, "r2")
    challenger = [s.slot.version == "4" for s in first]
    assert challenger == [s.slot.version == "4" for s in again]  # sticky per customer
    assert 0.27 < np.mean(challenger) < 0.33
    for row in first:
        if row.slot.version == "4":  # answered by the challenger, at its own threshold
            assert (row.probability, row.label, row.shadow_probability) == (0.6, True, 0.2)


def test_shadow_share_samples_requests() -> None:
    predictor = Predictor(_meta(True, shadow_share=0.25), _Constant(0.2), _Constant(0.6))
    shadowed = [
        predictor.score([CUSTOMER], f"req-{i}")[0].shadow_probability is not None
        for i in range(2000)
    ]
    assert 0.21 < np.mean(shadowed) < 0.29
    none = Predictor(_meta(False), _Constant(0.9))
    assert none.score([CUSTOMER], "r")[0].tier == "high"
    with pytest.raises(ValueError, match="ab_share"):
        Predictor(_meta(True), _Constant(0.2), _Constant(0.6), ab_share=1.5)
