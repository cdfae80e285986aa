"""Serving without a server: the request model generated from the contract, shadow and A/B
routing, risk tiers, and the prediction log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from churn_assets.lib.contract import DataContract
from churn_assets.lib.serving import bundle as serving

CUSTOMER = {
    "customerID": "0001-ABCD",
    "gender": "Female",
    "SeniorCitizen": 0,
    "Partner": "Yes",
    "Dependents": "No",
    "tenure": 5,
    "PhoneService": "Yes",
    "MultipleLines": "No",
    "InternetService": "Fiber optic",
    "OnlineSecurity": "No",
    "OnlineBackup": "No",
    "DeviceProtection": "No",
    "TechSupport": "No",
    "StreamingTV": "Yes",
    "StreamingMovies": "No",
    "Contract": "Month-to-month",
    "PaperlessBilling": "Yes",
    "PaymentMethod": "Electronic check",
    "MonthlyCharges": 85.5,
    "TotalCharges": 420.0,
}


def _with(**changes: Any) -> dict[str, Any]:
    body = {k: v for k, v in CUSTOMER.items() if k not in changes or changes[k] is not ...}
    body.update({k: v for k, v in changes.items() if v is not ...})
    return body


# (request body, field the error must name, error type pydantic reports)
BAD_REQUESTS = [
    pytest.param(_with(tenure=...), "tenure", "missing", id="missing field"),
    pytest.param(_with(loyalty_points=3), "loyalty_points", "extra_forbidden", id="extra field"),
    pytest.param(_with(tenure="12"), "tenure", "int_type", id="wrong type (string)"),
    pytest.param(_with(tenure=12.5), "tenure", "int_type", id="wrong type (float)"),
    pytest.param(_with(tenure=-1), "tenure", "greater_than_equal", id="below range"),
    pytest.param(_with(MonthlyCharges=5000.0), "MonthlyCharges", "less_than_equal", id="above"),
    pytest.param(_with(Contract="Ten year"), "Contract", "literal_error", id="unknown category"),
    pytest.param(_with(gender=None), "gender", "literal_error", id="null not allowed"),
    pytest.param(_with(SeniorCitizen=2), "SeniorCitizen", "literal_error", id="not in 0/1"),
]


@pytest.fixture(scope="module")
def customer_model(contract: DataContract) -> type:
    return serving.customer_model(contract, example=CUSTOMER)


def test_a_contract_row_is_a_valid_request(customer_model: type) -> None:
    parsed = customer_model.model_validate(CUSTOMER)
    assert parsed.tenure == 5 and parsed.Contract == "Month-to-month"
    # Nullable fields (the contract's null policy fills them) may be null or omitted.
    assert customer_model.model_validate(_with(TotalCharges=None)).TotalCharges is None
    assert customer_model.model_validate(_with(TotalCharges=...)).TotalCharges is None
    # The id is optional; a JSON integer is a valid float.
    assert (
        customer_model.model_validate(_with(customerID=..., MonthlyCharges=70)).customerID is None
    )


@pytest.mark.parametrize(("body", "field", "kind"), BAD_REQUESTS)
def test_bad_requests_name_the_field(
    customer_model: type, body: dict[str, Any], field: str, kind: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        customer_model.model_validate_json(__import__("json").dumps(body))
    errors = caught.value.errors()
    assert [e["loc"][0] for e in errors] == [field]
    assert errors[0]["type"] == kind


def test_the_schema_documents_the_contract(customer_model: type, contract: DataContract) -> None:
    schema = customer_model.model_json_schema()
    assert schema["additionalProperties"] is False
    assert set(contract.feature_columns) - {"TotalCharges"} <= set(schema["required"])
    assert schema["properties"]["Contract"]["enum"] == list(contract.allowed_values("Contract"))
    assert schema["properties"]["tenure"]["minimum"] == 0
    assert schema["properties"]["tenure"]["description"]
    assert schema["example"] == CUSTOMER


class _Constant:
    """A stand-in scorer with a fixed score per customer (routing is under test, not models)."""

    def __init__(self, value: float):
        self.value = value

    def predict_proba(self, records: list[dict[str, Any]]) -> np.ndarray:
        return np.full(len(records), self.value)


def _meta(shadow: bool, **split: float) -> serving.ServingMeta:
    return serving.ServingMeta(
        model_name="churn-model",
        champion=serving.ModelSlot("3", "logreg", threshold=0.3, calibration="none"),
        shadow=serving.ModelSlot("4", "xgboost", 0.5, "isotonic") if shadow else None,
        contract_name="telco",
        medium_threshold=0.15,
        **split,
    )


def test_shadow_is_scored_and_logged_but_never_served() -> None:
    predictor = serving.Predictor(_meta(True), _Constant(0.2), _Constant(0.6))
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
    predictor = serving.Predictor(_meta(True, ab_share=0.3), _Constant(0.2), _Constant(0.6))
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
    predictor = serving.Predictor(_meta(True, shadow_share=0.25), _Constant(0.2), _Constant(0.6))
    shadowed = [
        predictor.score([CUSTOMER], f"req-{i}")[0].shadow_probability is not None
        for i in range(2000)
    ]
    assert 0.21 < np.mean(shadowed) < 0.29
    none = serving.Predictor(_meta(False), _Constant(0.9))
    assert none.score([CUSTOMER], "r")[0].tier == "high"
    with pytest.raises(ValueError, match="ab_share"):
        serving.Predictor(_meta(True), _Constant(0.2), _Constant(0.6), ab_share=1.5)


def test_risk_tiers() -> None:
    p = np.array([0.0, 0.149, 0.15, 0.299, 0.3, 1.0])
    assert serving.risk_tiers(p, 0.3, 0.15).tolist() == [
        "low",
        "low",
        "medium",
        "medium",
        "high",
        "high",
    ]
    assert [serving.risk_tier(x, 0.3, 0.15) for x in p] == serving.risk_tiers(p, 0.3, 0.15).tolist()


def test_prediction_log_round_trip_and_rotation(tmp_path: Path) -> None:
    log = serving.PredictionLog(tmp_path, worker=1, max_bytes=4000, backups=50)
    predictor = serving.Predictor(_meta(True), _Constant(0.2), _Constant(0.6))
    for i in range(30):
        records = [_with(customerID=f"c{i}-{j}") for j in range(3)]
        log.write(predictor.log_entries(records, predictor.score(records, f"r{i}"), f"r{i}"))
    log.close()
    assert len(list(tmp_path.glob("predictions-1.jsonl*"))) > 1  # rotated, nothing lost
    frame = serving.read_prediction_logs(tmp_path)
    assert len(frame) == 90 and frame["customerID"].nunique() == 90
    assert {"score", "model_version", "shadow_score", "tenure", "Contract"} <= set(frame.columns)
    assert frame["request_id"].nunique() == 30
