"""A large columnar ``/bulk/predict`` batch is logged as one Parquet file: read back, it is the
same rows as its JSON lines would be (privacy rule, nulls and the shadow included); a failed
write is counted like a failed line, leaves no half file and heals; retention reaches it."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from churn_assets.lib.contract import DataContract
from churn_assets.lib.privacy import pseudonym
from churn_assets.lib.serving.prediction_log import PredictionLog, read_prediction_logs
from churn_assets.lib.serving.predictor import Predictor
from churn_assets_tests.lib.serving.test_predictor import _Constant, _meta
from churn_assets_tests.lib.serving.test_request_model import _with


def _batch(predictor: Predictor, n: int = 6) -> tuple[list[dict], dict, list]:
    records = [_with(customerID=f"c{i % 4}") for i in range(n - 1)] + [_with(customerID=None)]
    records[1]["TotalCharges"] = None
    columns = {k: pa.chunked_array([pa.array([r[k] for r in records])]) for k in records[0]}
    return records, columns, predictor.score(records, "r")


def test_a_parquet_logged_batch_reads_back_as_its_json_lines(
    tmp_path: Path, contract: DataContract, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHURN_PRIVACY_KEY", "a deployment's key")
    predictor = Predictor(_meta(True), _Constant(0.2), _Constant(0.6), privacy=contract.privacy)
    records, columns, scored = _batch(predictor)
    as_table, as_lines = PredictionLog(tmp_path / "t"), PredictionLog(tmp_path / "l")
    build = lambda: predictor.log_table_from_columns(columns, scored, "r")  # noqa: E731
    assert as_table.write_table(build, len(scored))
    assert as_lines.write(predictor.log_entries(records, scored, "r"))
    assert len(list((tmp_path / "t").glob("predictions-0-*.parquet"))) == 1
    table, lines = read_prediction_logs(tmp_path / "t"), read_prediction_logs(tmp_path / "l")
    assert table["customerID"].tolist()[:4] == [pseudonym(f"c{i}") for i in range(4)]
    assert table["customerID"].tolist()[-1] is None
    assert "gender" not in table.columns and "shadow_score" in table.columns
    pd.testing.assert_frame_equal(
        table.drop(columns="time"), lines.drop(columns="time")[table.columns.drop("time")]
    )
    assert columns["customerID"].to_pylist()[0] == "c0"  # the caller's column is untouched


@pytest.mark.faults
def test_a_failed_table_write_is_counted_leaves_no_half_file_and_heals(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    predictor = Predictor(_meta(True), _Constant(0.2), _Constant(0.6))
    _, columns, scored = _batch(predictor)
    build = lambda: predictor.log_table_from_columns(columns, scored, "r")  # noqa: E731
    errors: list[str] = []
    log = PredictionLog(tmp_path, worker=2, on_error=lambda stage, exc: errors.append(stage))

    def disk_full(table: pa.Table, where: Path) -> None:  # half written, then ENOSPC
        Path(where).write_bytes(b"PAR1 half a file")
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patched:
        patched.setattr(pq, "write_table", disk_full)
        assert not log.write_table(build, len(scored))
    assert not log.write_table(lambda: 1 / 0, 3)  # a table that cannot be built
    assert [p.name for p in tmp_path.iterdir()] == ["predictions-2.jsonl"]  # no half file
    status = log.status()
    assert (status["ok"], status["failed_writes"], status["lost_lines"]) == (False, 2, 9)
    assert errors == ["write", "write"] and "No space left" in caplog.text
    assert log.write_table(build, len(scored))  # the disk has room again
    assert log.status()["ok"] and len(read_prediction_logs(tmp_path)) == len(scored)
    assert "works again" in caplog.records[-1].getMessage()


def test_retention_deletes_old_parquet_logs(tmp_path: Path) -> None:
    old = time.time() - 31 * 86400
    for name in ("predictions-1-5-aa.parquet", "predictions-2-6-bb.parquet"):
        pd.DataFrame({"score": [0.5]}).to_parquet(tmp_path / name)
    os.utime(tmp_path / "predictions-1-5-aa.parquet", (old, old))
    PredictionLog(tmp_path, worker=1, retention_days=30)
    assert sorted(p.name for p in tmp_path.glob("*.parquet")) == ["predictions-2-6-bb.parquet"]
