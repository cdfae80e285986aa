"""The request model generated from the contract: a contract row is valid, every kind of bad
request is rejected naming the field, and the schema documents the contract."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from churn_assets.lib.contract import DataContract
from churn_assets.lib.serving.request_model import customer_model as build_customer_model

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
    return build_customer_model(contract, example=CUSTOMER)


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
        customer_model.model_validate_json(json.dumps(body))
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
