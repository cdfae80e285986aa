"""The prediction log: written per worker, rotated by size, read back whole; best effort
when the disk fails it; retention by age; the contract's privacy rule on every line."""

from __future__ import annotations

import copy
import dataclasses
import logging
import os
import shutil
import time
from pathlib import Path

import pytest

from churn_assets.lib.contract import DataContract
from churn_assets.lib.privacy import FieldRule, pseudonym
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


def _entries(predictor: Predictor, tag: str, n: int = 3) -> list[dict]:
    records = [_with(customerID=f"{tag}-{j}") for j in range(n)]
    return predictor.log_entries(records, predictor.score(records, tag), tag)


@pytest.mark.faults
def test_a_failed_rotation_leaves_no_closed_handle(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The rotated name is taken by a folder, so every rotation fails: the log keeps
    writing to the current file (before: every write after the first failed rotation
    raised on a closed file)."""
    predictor = Predictor(_meta(True), _Constant(0.2), _Constant(0.6))
    (tmp_path / "predictions-1.jsonl.1" / "blocked").mkdir(parents=True)
    errors: list[str] = []
    log = PredictionLog(
        tmp_path, worker=1, max_bytes=2000, backups=1, on_error=lambda s, e: errors.append(s)
    )
    assert all(log.write(_entries(predictor, f"r{i}")) for i in range(40))
    log.close()
    assert len(read_prediction_logs(tmp_path)) == 120
    assert errors and set(errors) == {"rotate"} and log.status()["failed_writes"] == 0
    assert log.status()["ok"] and len(caplog.records) == 1  # one burst, one warning


@pytest.mark.faults
def test_disk_full_is_counted_warned_once_and_heals(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """ENOSPC from the kernel (/dev/full): writes report False, one WARNING for the burst,
    and once the disk has room again the next write goes through."""
    predictor = Predictor(_meta(True), _Constant(0.2), _Constant(0.6))
    path = tmp_path / "predictions-1.jsonl"
    path.symlink_to("/dev/full")
    errors: list[str] = []
    log = PredictionLog(tmp_path, worker=1, on_error=lambda s, e: errors.append(s))
    with caplog.at_level(logging.WARNING, logger="churn_service.prediction_log"):
        assert not any(log.write(_entries(predictor, f"r{i}")) for i in range(20))
        status = log.status()
        assert status["ok"] is False and status["failed_writes"] == 20
        assert status["lost_lines"] == 60 and "No space left on device" in status["last_error"]
        assert errors == ["write"] * 20
        assert len(caplog.records) == 1 and "predictions are still served" in caplog.text
        path.unlink()  # room again
        assert log.write(_entries(predictor, "after"))
    assert log.status()["ok"] is True
    assert "write works again after 20 failure(s)" in caplog.records[-1].getMessage()
    assert read_prediction_logs(tmp_path)["request_id"].tolist() == ["after"] * 3


@pytest.mark.faults
def test_a_removed_folder_is_created_again(tmp_path: Path) -> None:
    predictor = Predictor(_meta(True), _Constant(0.2), _Constant(0.6))
    folder = tmp_path / "predictions"
    log = PredictionLog(folder, worker=1)
    assert log.write(_entries(predictor, "before"))
    shutil.rmtree(folder)  # the open file is unlinked: lines written to it would be lost
    assert log.write(_entries(predictor, "after"))
    assert read_prediction_logs(folder)["request_id"].tolist() == ["after"] * 3


def test_a_torn_line_is_ended_and_skipped(tmp_path: Path) -> None:
    predictor = Predictor(_meta(True), _Constant(0.2), _Constant(0.6))
    log = PredictionLog(tmp_path, worker=1)
    log.write(_entries(predictor, "whole"))
    log.close()
    with open(tmp_path / "predictions-1.jsonl", "ab") as handle:
        handle.write(b'{"time": "2026-12-02T00:00:00", "request_id": "to')  # cut short
    again = PredictionLog(tmp_path, worker=1)
    again.write(_entries(predictor, "next"))
    again.close()
    assert read_prediction_logs(tmp_path)["request_id"].tolist() == ["whole"] * 3 + ["next"] * 3


def test_retention_deletes_files_last_written_before_it(tmp_path: Path) -> None:
    predictor = Predictor(_meta(True), _Constant(0.2), _Constant(0.6))
    old = time.time() - 31 * 86400
    for name in ("predictions-1.jsonl.2", "predictions-2.jsonl"):  # rotated; another worker
        (tmp_path / name).write_text("{}\n")
        os.utime(tmp_path / name, (old, old))
    (tmp_path / "predictions-1.jsonl.1").write_text("{}\n")  # recent: kept
    (tmp_path / "notes.txt").write_text("not a log")
    os.utime(tmp_path / "notes.txt", (old, old))
    log = PredictionLog(tmp_path, worker=1, retention_days=30, max_bytes=1500, backups=5)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "notes.txt",
        "predictions-1.jsonl",
        "predictions-1.jsonl.1",
    ]
    # At rotation too: the rotated files are aged, the next rotation deletes them.
    log.write(_entries(predictor, "a", n=5))
    for path in tmp_path.glob("predictions-1.jsonl.*"):
        os.utime(path, (old, old))
    log.write(_entries(predictor, "b", n=5))
    # The aged ones are gone; the file just rotated is the newest (the next write reopens).
    assert sorted(p.name for p in tmp_path.glob("predictions-*")) == ["predictions-1.jsonl.1"]
    assert PredictionLog(tmp_path, worker=3, retention_days=None).retention_days is None


def test_the_log_follows_the_contracts_privacy_rule(
    contract: DataContract, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHURN_PRIVACY_KEY", "a deployment's key")
    predictor = Predictor(_meta(True), _Constant(0.2), _Constant(0.6), privacy=contract.privacy)
    records = [_with(customerID=f"c{i}") for i in range(3)] + [_with(customerID=None)]
    sent = copy.deepcopy(records)
    entries = predictor.log_entries(records, predictor.score(records, "r"), "r")
    assert records == sent  # the caller's records are untouched
    logged = [e["features"] for e in entries]
    assert [f["customerID"] for f in logged] == [pseudonym(f"c{i}") for i in range(3)] + [None]
    assert pseudonym("c0") != pseudonym("c0", key=b"another key")
    assert all("gender" not in f and "SeniorCitizen" not in f for f in logged)
    assert all(f["tenure"] == records[0]["tenure"] for f in logged)
    # Kept as sent where the contract says keep.
    keep = dataclasses.replace(
        contract.privacy, prediction_log=FieldRule(identifiers="keep", sensitive="keep")
    )
    plain = Predictor(_meta(True), _Constant(0.2), _Constant(0.6), privacy=keep)
    assert plain.log_entries(sent, plain.score(sent, "r"), "r")[0]["features"] == sent[0]
    # A batch in columns (/bulk/predict) is logged under the same rule, to the same lines.
    scored = predictor.score(records, "r")
    columns = {k: [r[k] for r in records] for k in records[0]}
    from_columns = predictor.log_entries_from_columns(columns, scored, "r")
    strip = [{k: v for k, v in e.items() if k != "time"} for e in from_columns]
    assert strip == [
        {k: v for k, v in e.items() if k != "time"}
        for e in predictor.log_entries(records, scored, "r")
    ]
    assert columns["customerID"] == [r["customerID"] for r in sent]  # not edited in place
