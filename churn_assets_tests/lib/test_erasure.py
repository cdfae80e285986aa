"""Erasure of one customer from the stored tables and the prediction logs."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from churn_assets.lib.contract import DataContract
from churn_assets.lib.erasure import erase_customer, main
from churn_assets.lib.privacy import pseudonym


def _stores(tmp_path: Path) -> tuple[Path, Path]:
    storage, logs = tmp_path / "storage", tmp_path / "predictions"
    (storage / "landed_batch").mkdir(parents=True)
    logs.mkdir()
    pd.DataFrame({"customerID": ["A-1", "B-2", " A-1"], "tenure": [1, 2, 3]}).to_parquet(
        storage / "validated_customers.parquet"
    )
    pd.DataFrame({"customerID": ["B-2", None], "x": [0.5, 0.7]}).to_parquet(
        storage / "landed_batch" / "2026-01.parquet"
    )
    pd.DataFrame({"tenure": [1]}).to_parquet(storage / "drift_reference.parquet")
    lines = [
        {"request_id": "r1", "features": {"customerID": pseudonym("A-1"), "tenure": 1}},
        {"request_id": "r2", "features": {"customerID": "B-2", "tenure": 2}},
        {"request_id": "r3", "features": {"customerID": "A-1", "tenure": 3}},
    ]
    text = "".join(json.dumps(line) + "\n" for line in lines) + '{"request_id": "r4", "A-1'
    (logs / "predictions-0.jsonl").write_text(text)
    (logs / "predictions-0.jsonl.1").write_text(json.dumps(lines[1]) + "\n")
    return storage, logs


def test_erasure_removes_every_row_of_the_customer_and_nothing_else(
    tmp_path: Path, contract: DataContract
) -> None:
    storage, logs = _stores(tmp_path)
    report = erase_customer("A-1", contract, storage=str(storage), predictions=logs)
    assert report.tables == {str(storage / "validated_customers.parquet"): 2}
    # The pseudonymised line, the raw one and the torn line naming the customer.
    assert report.prediction_logs == {str(logs / "predictions-0.jsonl"): 3}
    assert (report.tables_scanned, report.logs_scanned) == (2, 2)
    kept = pd.read_parquet(storage / "validated_customers.parquet")
    assert kept.to_dict("list") == {"customerID": ["B-2"], "tenure": [2]}
    assert [json.loads(s)["request_id"] for s in (logs / "predictions-0.jsonl").open()] == ["r2"]
    assert len(pd.read_parquet(storage / "landed_batch" / "2026-01.parquet")) == 2
    again = erase_customer("A-1", contract, storage=str(storage), predictions=logs)
    assert again.rows == 0


def test_a_dry_run_changes_nothing(tmp_path: Path, contract: DataContract, capsys) -> None:
    storage, logs = _stores(tmp_path)
    before = (logs / "predictions-0.jsonl").read_bytes()
    code = main(["B-2", "--dry-run", "--storage", str(storage), "--predictions", str(logs)])
    assert code == 0
    out = capsys.readouterr().out
    assert out.startswith("would remove 4 row(s)") and "CHURN_DATA_URI" in out
    assert (logs / "predictions-0.jsonl").read_bytes() == before
    assert len(pd.read_parquet(storage / "validated_customers.parquet")) == 3


def test_erasure_reaches_tables_in_a_bucket(
    s3_env: str, tmp_path: Path, contract: DataContract
) -> None:
    import boto3
    from upath import UPath

    boto3.client("s3").create_bucket(Bucket="churn")
    base = UPath("s3://churn/storage")
    frame = pd.DataFrame({"customerID": ["A-1", "B-2"], "tenure": [1, 2]})
    with (base / "quarantine" / "2026-01.parquet").open("wb") as f:
        frame.to_parquet(f, index=False)
    report = erase_customer("A-1", contract, storage=str(base), predictions=tmp_path / "none")
    assert report.rows == 1
    with (base / "quarantine" / "2026-01.parquet").open("rb") as f:
        assert pd.read_parquet(f)["customerID"].tolist() == ["B-2"]
    assert [p.name for p in (base / "quarantine").iterdir()] == ["2026-01.parquet"]


def test_erasure_reaches_a_bulk_requests_parquet_log(
    tmp_path: Path, contract: DataContract
) -> None:
    # A columnar /bulk/predict request of 1,000 rows or more is logged as one Parquet file.
    logs = tmp_path / "predictions"
    logs.mkdir()
    ids = [pseudonym("A-1"), "B-2", "A-1", None]
    pd.DataFrame({"request_id": list("abcd"), "customerID": ids, "score": [0.1] * 4}).to_parquet(
        logs / "predictions-0-1-ab.parquet"
    )
    dry = erase_customer(
        "A-1", contract, storage=str(tmp_path / "none"), predictions=logs, dry_run=True
    )
    assert dry.prediction_logs == {str(logs / "predictions-0-1-ab.parquet"): 2}
    assert len(pd.read_parquet(logs / "predictions-0-1-ab.parquet")) == 4
    report = erase_customer("A-1", contract, storage=str(tmp_path / "none"), predictions=logs)
    assert report.prediction_logs == dry.prediction_logs and report.logs_scanned == 1
    kept = pd.read_parquet(logs / "predictions-0-1-ab.parquet")
    assert kept["request_id"].tolist() == ["b", "d"]
    assert sorted(p.name for p in logs.iterdir()) == ["predictions-0-1-ab.parquet"]
