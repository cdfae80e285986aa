"""The IO managers when the store is away or holds something broken: the error names the store
and keeps the client's error as its cause; a store that does not answer is retried by the step's
retry policy, bytes that are not a complete file are not."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from churn_assets.defs.io_managers import StoreUnavailableError, TableIOManager, write_whole
from churn_assets.team.services import free_port

FRAME = pd.DataFrame({"customer_id": ["a", "b"], "tenure": [1, 2]})
RETRY_AT_ONCE = dg.RetryPolicy(max_retries=1, delay=0)


def _events(result: dg.ExecuteInProcessResult, kind: dg.DagsterEventType) -> list[dg.DagsterEvent]:
    return [e for e in result.all_events if e.event_type == kind]


def test_a_local_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    @dg.asset
    def table() -> pd.DataFrame:
        return FRAME

    dg.materialize([table], resources={"io_manager": TableIOManager(base_uri=str(tmp_path))})
    assert [p.name for p in tmp_path.iterdir()] == ["table.parquet"]
    assert pd.read_parquet(tmp_path / "table.parquet").equals(FRAME)


def test_a_store_that_does_not_answer_is_named_and_the_step_retried(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Nothing listens on the endpoint (a real refused connection, as when the S3 server is
    down): the write fails with the bucket, the endpoint and what to do, and Dagster retries
    the step (STEP_UP_FOR_RETRY) instead of failing it outright."""
    endpoint = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # fail fast: the retry under test is Dagster's
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()

    @dg.asset(retry_policy=RETRY_AT_ONCE)
    def table() -> pd.DataFrame:
        return FRAME

    result = dg.materialize(
        [table],
        resources={"io_manager": TableIOManager(base_uri="s3://churn-faults/storage")},
        raise_on_error=False,
    )
    assert not result.success
    assert len(_events(result, dg.DagsterEventType.STEP_UP_FOR_RETRY)) == 1
    (failure,) = _events(result, dg.DagsterEventType.STEP_FAILURE)
    error = failure.step_failure_data.error
    while error.cls_name != "StoreUnavailableError":
        error = error.cause
        assert error is not None, failure.step_failure_data.error
    assert "could not write table" in error.message
    assert "s3://churn-faults/storage/table.parquet" in error.message
    assert "bucket 'churn-faults'" in error.message and endpoint in error.message
    assert "re-execution from failure" in error.message
    # The client's own error stays attached as the cause.
    assert error.cause is not None and "EndpointConnectionError" in error.cause.cls_name


def test_a_truncated_table_fails_at_once_and_is_never_loaded(tmp_path: Path) -> None:
    @dg.asset
    def table() -> pd.DataFrame:
        return FRAME

    @dg.asset(retry_policy=RETRY_AT_ONCE)
    def downstream(table: pd.DataFrame) -> pd.DataFrame:
        return table

    resources = {"io_manager": TableIOManager(base_uri=str(tmp_path))}
    dg.materialize([table], resources=resources)
    stored = tmp_path / "table.parquet"
    stored.write_bytes(stored.read_bytes()[:-40])  # the footer is gone, as after a cut upload
    result = dg.materialize(
        [table, downstream], selection=[downstream], resources=resources, raise_on_error=False
    )
    assert not result.success
    assert not _events(result, dg.DagsterEventType.STEP_UP_FOR_RETRY)  # reading again cannot help
    (failure,) = _events(result, dg.DagsterEventType.STEP_FAILURE)
    message = failure.step_failure_data.error.message
    assert "not a complete Parquet file" in message and str(stored) in message


def test_write_whole_replaces_a_local_file_in_one_step(tmp_path: Path) -> None:
    from upath import UPath

    target = UPath(tmp_path) / "x.bin"
    write_whole(target, b"old")
    write_whole(target, b"new")
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.bin"]


def test_store_unavailable_is_an_os_error() -> None:
    """Callers that handle OSError from storage keep working."""
    assert issubclass(StoreUnavailableError, OSError)
