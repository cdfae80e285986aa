"""The prediction log: written per worker, rotated by size, read back whole."""

from __future__ import annotations

from pathlib import Path

from churn_assets.lib.serving.prediction_log import PredictionLog, read_prediction_logs
from churn_assets.lib.serving.predictor import Predictor
from churn_assets_tests.lib.serving.test_predictor import _Constant, _meta
from churn_assets_tests.lib.serving.test_request_model import _with


def test_prediction_log_round_trip_and_rotation(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path, worker=1, max_bytes=4000, backups=50)
    predictor = Predictor(_meta(True), _Constant(0.2), _Constant(0.6))
    for i in range(30):
        records = [_with(customerID=f"c{i}-{j}") for j in range(3)]
        log.write(predictor.log_entries(records, predictor.score(records, f"r{i}"), f"r{i}"))
    log.close()
    assert len(list(tmp_path.glob("predictions-1.jsonl*"))) > 1  # rotated, nothing lost
    frame = read_prediction_logs(tmp_path)
    assert len(frame) == 90 and frame["customerID"].nunique() == 90
    assert {"score", "model_version", "shadow_score", "tenure", "Contract"} <= set(frame.columns)
    assert frame["request_id"].nunique() == 30
