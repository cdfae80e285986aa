"""The vectorised contract validator gives the per-row pydantic model's verdicts: on the
bad-request table, on generated rows, and on the same rows as a pandas frame / Arrow table."""

from __future__ import annotations

import random
from typing import Any

import pytest
from pydantic import ValidationError

from churn_assets.lib.contract import DataContract
from churn_assets.lib.serving.columnar import MISSING, columns_from_records, row_verdicts
from churn_assets.lib.serving.request_model import customer_model as build_customer_model
from churn_assets_tests.lib.serving.test_request_model import BAD_REQUESTS, CUSTOMER


@pytest.fixture(scope="module")
def customer_model(contract: DataContract) -> type:
    return build_customer_model(contract, example=CUSTOMER)


def _pydantic(model: type, records: list[dict[str, Any]]) -> dict[int, list[tuple[str, str]]]:
    out: dict[int, list[tuple[str, str]]] = {}
    for i, record in enumerate(records):
        try:
            model.model_validate(record)
        except ValidationError as exc:
            out[i] = [(str(e["loc"][0]), e["type"]) for e in exc.errors()]
    return out


def _columnar(records: list[dict[str, Any]], contract: DataContract) -> dict[int, list]:
    verdicts = row_verdicts(columns_from_records(records, contract), contract)
    return {i: [(r["field"], r["type"]) for r in reasons] for i, reasons in verdicts.items()}


def test_the_bad_request_table_gets_the_same_verdicts(
    customer_model: type, contract: DataContract
) -> None:
    records = [CUSTOMER, *(p.values[0] for p in BAD_REQUESTS), CUSTOMER]
    expected = _pydantic(customer_model, records)
    assert sorted(expected) == list(range(1, len(BAD_REQUESTS) + 1))
    assert _columnar(records, contract) == expected
    for p in BAD_REQUESTS:  # each names its field and pydantic's error type
        _, field, kind = p.values
        (reason,) = row_verdicts(columns_from_records([p.values[0]], contract), contract)[0]
        assert (reason["field"], reason["type"]) == (field, kind)
        assert set(reason) == {"field", "type", "value_class", "rule"}  # never the value


ODD_VALUES = [
    None,
    MISSING,
    "",
    "x" * 200,
    "12",
    0,
    1,
    -1,
    2,
    12.5,
    12.0,
    1e9,
    True,
    False,
    float("nan"),
    float("inf"),
    "Yes",
    "No",
    "Female",
    [1],
    {"a": 1},
]


def test_generated_rows_get_the_same_verdicts(customer_model: type, contract: DataContract) -> None:
    rng = random.Random(7)
    fields = list(CUSTOMER)
    records = []
    for _ in range(3000):
        record = dict(CUSTOMER)
        for field in rng.sample(fields, rng.randint(1, 4)):
            value = rng.choice(ODD_VALUES)
            if value is MISSING:
                record.pop(field)
            else:
                record[field] = value
        if rng.random() < 0.05:
            record["unknown_field"] = 1
        records.append(record)
    expected = _pydantic(customer_model, records)
    assert 0 < len(expected) < len(records)  # both kinds generated
    assert _columnar(records, contract) == expected


def test_frames_and_arrow_tables_get_the_verdicts_of_their_rows(
    customer_model: type, contract: DataContract
) -> None:
    import pandas as pd
    import pyarrow as pa

    good = dict(CUSTOMER)
    records = [good, {**good, "tenure": -1}, {**good, "Contract": "Ten year"}, good]
    frame = pd.DataFrame(records)
    expected = _pydantic(customer_model, records)
    for batch in (frame, pa.Table.from_pandas(frame, preserve_index=False)):
        verdicts = row_verdicts(batch, contract)
        assert {i: [(r["field"], r["type"]) for r in v] for i, v in verdicts.items()} == expected
    # A column the table lacks is missing in every row; a float column for an int field
    # fails as a JSON 12.0 does.
    table = pa.Table.from_pandas(frame.drop(columns=["tenure"]), preserve_index=False)
    assert all(v[0]["type"] == "missing" for v in row_verdicts(table, contract).values())
    floats = frame.assign(tenure=frame["tenure"].astype(float))
    assert {v[0]["type"] for v in row_verdicts(floats, contract).values()} == {"int_type"}


def test_fast_paths_of_well_typed_columns_keep_the_verdicts(
    customer_model: type, contract: DataContract
) -> None:
    # One Python type per column: the set/NumPy shortcuts decide, not the per-value check.
    records = [dict(CUSTOMER, customerID=f"c{i}", SeniorCitizen=i % 2) for i in range(50)]
    records[3]["SeniorCitizen"] = 2
    records[7]["customerID"] = "x" * 200
    records[9]["customerID"] = ""
    records[11]["tenure"] = 10_000
    expected = _pydantic(customer_model, records)
    assert sorted(expected) == [3, 7, 9, 11]
    assert _columnar(records, contract) == expected


def test_arrow_columns_checked_with_arrow_compute_keep_the_verdicts(
    customer_model: type, contract: DataContract
) -> None:
    # Each column keeps one Arrow type, so Arrow compute finds the suspects and only they
    # are checked one by one: nulls, ranges, NaN and infinity, values outside the allowed
    # set, ids too short or too long, in every column the random edits reach.
    import pyarrow as pa

    rng = random.Random(11)
    odd = {
        "customerID": ["", "x" * 200, None],
        "tenure": [-1, 10_000, None],
        "SeniorCitizen": [2, -1, None],
        "MonthlyCharges": [float("nan"), float("inf"), -5.0, 1e9, None],
        "TotalCharges": [float("nan"), -1.0, None],
        "Contract": ["Ten year", "", None],
        "gender": ["other", None],
    }
    records = []
    for i in range(2000):
        record = dict(CUSTOMER, customerID=f"c{i}")
        for field in rng.sample(list(odd), rng.randint(0, 2)):
            record[field] = rng.choice(odd[field])
        records.append(record)
    table = pa.Table.from_pylist(records)
    assert pa.types.is_integer(table.schema.field("tenure").type)
    expected = _pydantic(customer_model, records)
    assert 0 < len(expected) < len(records)
    verdicts = row_verdicts(table, contract)
    assert {i: [(r["field"], r["type"]) for r in v] for i, v in verdicts.items()} == expected
