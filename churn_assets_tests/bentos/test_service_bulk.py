"""``/bulk/predict`` on a real `bentoml serve`: Arrow and JSON bodies give the bad-request
table's verdicts, partial success scores every good row and returns every bad one with its
reasons, and a malformed Arrow body is a 400."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests

from churn_assets.lib.serving.prediction_log import read_prediction_logs
from churn_assets_tests.lib.serving.test_request_model import BAD_REQUESTS, CUSTOMER
from churn_assets_tests.served_bento import serving

pytestmark = pytest.mark.slow
ARROW = "application/vnd.apache.arrow.stream"


@pytest.fixture(scope="module")
def service(built: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    logs = tmp_path_factory.mktemp("bulk-predictions")
    with serving(built, logs, built["home"] / "serve-bulk.log") as served:
        yield served


def _arrow(rows: list[dict[str, Any]]) -> bytes:
    import pyarrow as pa

    table = pa.Table.from_pylist(rows)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _post(service: dict, data: bytes, media: str) -> requests.Response:
    return requests.post(
        f"{service['url']}/bulk/predict", data=data, headers={"content-type": media}, timeout=60
    )


def _read_arrow(data: bytes) -> list[dict[str, Any]]:
    import pyarrow as pa

    return pa.ipc.open_stream(pa.BufferReader(data)).read_all().to_pylist()


@pytest.mark.parametrize(("body", "field", "kind"), BAD_REQUESTS)
def test_the_bad_request_table_gets_the_same_verdicts_on_json_and_arrow(
    service: dict, body: dict[str, Any], field: str, kind: str
) -> None:
    arrow = _post(service, _arrow([body]), ARROW)
    assert arrow.status_code == 200, arrow.text
    (row,) = _read_arrow(arrow.content)
    reasons = json.loads(row["errors"])
    assert [(r["field"], r["type"]) for r in reasons] == [(field, kind)]
    assert row["churn_probability"] is None
    answer = _post(service, json.dumps([CUSTOMER, body]).encode(), "application/json")
    assert answer.status_code == 200, answer.text
    out = answer.json()
    assert [p["row"] for p in out["predictions"]] == [0]
    (rejected,) = out["rejected"]
    assert rejected["row"] == 1
    assert [(r["field"], r["type"]) for r in rejected["reasons"]] == [(field, kind)]


def test_partial_success_scores_the_good_rows_and_names_every_bad_one(service: dict) -> None:
    rows = [dict(CUSTOMER, customerID=f"c{i}", tenure=i) for i in range(20)]
    rows[4]["tenure"] = -1
    rows[9]["Contract"] = "Ten year"
    rows[15]["MonthlyCharges"] = 5000.0
    response = _post(service, _arrow(rows), ARROW)
    assert response.status_code == 200 and response.headers["content-type"].startswith(ARROW)
    out = _read_arrow(response.content)
    assert [r["row"] for r in out] == list(range(20))
    bad = {r["row"]: json.loads(r["errors"])[0]["field"] for r in out if r["errors"]}
    assert bad == {4: "tenure", 9: "Contract", 15: "MonthlyCharges"}
    scored = [r for r in out if r["errors"] is None]
    assert len(scored) == 17
    assert all(0 <= r["churn_probability"] <= 1 and r["customer_id"] for r in scored)
    # The same rows as JSON score the same.
    as_json = _post(service, json.dumps(rows).encode(), "application/json").json()
    by_row = {p["row"]: p["churn_probability"] for p in as_json["predictions"]}
    assert by_row == {r["row"]: r["churn_probability"] for r in scored}


def test_malformed_and_unsupported_bodies_are_400(service: dict) -> None:
    broken = _post(service, b"\xff\xff\xff\xffnot arrow at all", ARROW)
    assert broken.status_code == 400 and "not valid" in broken.json()["detail"]
    truncated = _post(service, _arrow([CUSTOMER])[:-40], ARROW)
    assert truncated.status_code == 400
    assert _post(service, b"[1, 2", "application/json").status_code == 400
    unsupported = _post(service, b"x", "application/xml")
    assert unsupported.status_code == 400 and "unsupported Content-Type" in unsupported.text


def test_a_nullable_field_left_out_or_null_is_scored_as_null(service: dict) -> None:
    # TotalCharges is nullable (filled with 0.0 by the contract): a JSON record may leave it
    # out or send null, an Arrow column may hold a null; all score as /predict's null does.
    row = dict(CUSTOMER, customerID="n1", TotalCharges=None)
    left_out = {k: v for k, v in row.items() if k != "TotalCharges"}
    single = requests.post(f"{service['url']}/predict", json=row, timeout=30)
    assert single.status_code == 200, single.text
    expected = single.json()["churn_probability"]
    as_json = _post(service, json.dumps([left_out, row]).encode(), "application/json")
    assert as_json.status_code == 200, as_json.text
    out = as_json.json()
    assert out["rejected"] == []
    # The batch path and the one-record path agree to the last few bits.
    assert [p["churn_probability"] for p in out["predictions"]] == pytest.approx([expected] * 2)
    arrow = _read_arrow(_post(service, _arrow([row, dict(row, TotalCharges=10.0)]), ARROW).content)
    assert arrow[0]["errors"] is None
    assert arrow[0]["churn_probability"] == pytest.approx(expected)


def test_a_large_arrow_batch_is_logged_as_one_parquet_file_of_its_scored_rows(
    service: dict,
) -> None:
    rows = [dict(CUSTOMER, customerID=f"L{i}", tenure=i % 70) for i in range(1_200)]
    rows[5]["tenure"] = -1  # rejected: answered with its reasons, not logged
    answer = _post(service, _arrow(rows), ARROW)
    assert answer.status_code == 200, answer.text
    scored = [r for r in _read_arrow(answer.content) if r["errors"] is None]
    files = list(Path(service["logs"]).glob("predictions-*.parquet"))
    assert len(files) == 1
    logged = pd.read_parquet(files[0])
    assert len(logged) == len(scored) == 1_199 and logged["request_id"].nunique() == 1
    assert logged["score"].tolist() == [r["churn_probability"] for r in scored]
    assert not logged["customerID"].str.startswith("L").any()  # pseudonyms, by default
    assert logged["tenure"].tolist() == [r["tenure"] for i, r in enumerate(rows) if i != 5]
    # Read back with the JSON lines, as the monitoring assets read the log.
    frame = read_prediction_logs(service["logs"])
    assert (frame["request_id"] == logged["request_id"][0]).sum() == 1_199
