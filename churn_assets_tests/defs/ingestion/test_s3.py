"""The S3 path for real: HTTP against a local S3-compatible server (moto in server mode).

No in-process mocks: a ``moto.server`` subprocess listens on a free local port, and the code
under test reaches it only through the standard AWS variables (``AWS_ENDPOINT_URL`` and
credentials), exactly as it would reach MinIO or AWS itself. That proves that dagster-aws's
``S3Resource`` (boto3) and the IO managers' ``s3fs``/``universal-pathlib`` both honour
``AWS_ENDPOINT_URL`` from the environment, with nothing S3-specific configured in code.
"""

from __future__ import annotations

import io
from pathlib import Path

import boto3
import dagster as dg
import pandas as pd
import pytest

from churn_assets.lib.ingestion.errors import SourceNotFoundError
from churn_assets.lib.ingestion.readers import SOURCE_COL
from churn_assets.lib.ingestion.simulator import SimulatorConfig, simulate, write_monthly_files
from churn_assets.lib.ingestion.sources import load_raw, source_version
from churn_assets.lib.ingestion.stores import S3FileStore
from churn_assets.lib.ingestion.uri import parse_data_uri

pytestmark = pytest.mark.slow

LANDING = "landing"
PREFIX = "monthly/"
WAREHOUSE = "warehouse"
# Small but dirty enough that the quarantine path has rows to write.
SIM = SimulatorConfig(n_customers=300, months=3, seed=7, dirty_rate=0.01)


@pytest.fixture
def s3(s3_env: str):
    """A plain boto3 client for arranging and inspecting the store (explicit endpoint)."""
    return boto3.client("s3", endpoint_url=s3_env, region_name="us-east-1")


def _client_factory():
    """What the assets pass to the sources: ``S3Resource().get_client`` (environment only)."""
    from dagster_aws.s3 import S3Resource

    return S3Resource().get_client


@pytest.fixture(scope="session")
def monthly_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], int]:
    """Monthly simulator CSVs on local disk, and their total number of rows."""
    result = simulate(SIM)
    paths = write_monthly_files(result, tmp_path_factory.mktemp("monthly"))
    return paths, len(result.snapshots)


def _upload(s3, paths: list[Path], bucket: str = LANDING, prefix: str = PREFIX) -> list[str]:
    keys = []
    for path in paths:
        key = f"{prefix}{path.name}"
        s3.upload_file(str(path), bucket, key)
        keys.append(key)
    return keys


def _keys(s3, bucket: str, prefix: str = "") -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))


def test_s3_resource_honours_aws_endpoint_url(s3_env: str) -> None:
    client = _client_factory()()
    assert client.meta.endpoint_url == s3_env
    assert client.list_buckets()["Buckets"] == []


def test_monthly_csvs_are_listed_and_read(s3, monthly_files) -> None:
    paths, n_rows = monthly_files
    s3.create_bucket(Bucket=LANDING)
    keys = _upload(s3, paths)
    # Noise the store must ignore: a non-data object under the prefix, data beside it.
    s3.put_object(Bucket=LANDING, Key=f"{PREFIX}README.txt", Body=b"not data")
    s3.put_object(Bucket=LANDING, Key="elsewhere/customers_2030-01.csv", Body=b"a,b\n1,2\n")

    store = S3FileStore(_client_factory()(), LANDING, PREFIX)
    listed = store.list_files()
    assert [f.name for f in listed] == keys
    assert [f.size for f in listed] == [p.stat().st_size for p in paths]
    assert all(f.version for f in listed)

    loaded = load_raw(
        parse_data_uri(f"s3://{LANDING}/{PREFIX}"), "snapshot_month", _client_factory()
    )
    frame = loaded.frame
    assert len(frame) == n_rows
    assert loaded.files == keys
    assert loaded.description == f"s3://{LANDING}/{PREFIX}"
    assert set(frame[SOURCE_COL]) == set(keys)
    assert "snapshot_month" in frame.columns
    assert frame["snapshot_month"].notna().all()
    # Each file's rows carry its own month and its own key.
    for key in keys:
        month = key.removeprefix(f"{PREFIX}customers_").removesuffix(".csv")
        rows = frame[frame[SOURCE_COL] == key]
        assert len(rows) > 0
        assert rows["snapshot_month"].str.startswith(month).all()


def test_s3_range_reads(s3) -> None:
    """The landing sensor reads a header or a footer with an HTTP range, not the object."""
    s3.create_bucket(Bucket=LANDING)
    s3.put_object(Bucket=LANDING, Key=f"{PREFIX}customers_2026-01.csv", Body=b"0123456789")
    store = S3FileStore(_client_factory()(), LANDING, PREFIX)
    [file] = store.list_files()
    assert store.read_range(file, 2, 5) == b"234"
    assert store.read_range(file, 6, 6) == b""


def test_source_version_follows_new_objects(s3, monthly_files) -> None:
    paths, _ = monthly_files
    uri = parse_data_uri(f"s3://{LANDING}/{PREFIX}")
    s3.create_bucket(Bucket=LANDING)
    _upload(s3, paths[:2])

    first = source_version(uri, _client_factory())
    assert first[1] == 2
    assert source_version(uri, _client_factory()) == first  # nothing landed: unchanged
    # An object outside the prefix, or not a data file, is not part of the source.
    s3.put_object(Bucket=LANDING, Key="elsewhere/customers_2030-01.csv", Body=b"a\n1\n")
    s3.put_object(Bucket=LANDING, Key=f"{PREFIX}notes.txt", Body=b"hello")
    assert source_version(uri, _client_factory()) == first

    _upload(s3, paths[2:3])  # a new month lands
    second = source_version(uri, _client_factory())
    assert second[1] == 3
    assert second[0] != first[0]
    assert source_version(uri, _client_factory()) == second

    # The same key rewritten with other content is a new version too (ETag).
    s3.put_object(Bucket=LANDING, Key=f"{PREFIX}{paths[0].name}", Body=paths[1].read_bytes())
    third = source_version(uri, _client_factory())
    assert third[1] == 3
    assert third[0] not in (first[0], second[0])


def test_missing_bucket_and_empty_prefix(s3) -> None:
    missing = parse_data_uri("s3://no-such-bucket/monthly/")
    with pytest.raises(SourceNotFoundError, match="no-such-bucket"):
        load_raw(missing, "snapshot_month", _client_factory())
    with pytest.raises(SourceNotFoundError, match="no-such-bucket"):
        source_version(missing, _client_factory())

    s3.create_bucket(Bucket=LANDING)
    s3.put_object(Bucket=LANDING, Key="other/customers_2026-01.csv", Body=b"a\n1\n")
    s3.put_object(Bucket=LANDING, Key="empty/readme.txt", Body=b"no data here")
    with pytest.raises(SourceNotFoundError, match=r"s3://landing/empty/"):
        load_raw(parse_data_uri("s3://landing/empty/"), "snapshot_month", _client_factory())
    with pytest.raises(SourceNotFoundError, match=r"s3://landing/nothing/"):
        source_version(parse_data_uri("s3://landing/nothing/"), _client_factory())


def test_ingestion_end_to_end_on_s3(
    s3, s3_env: str, monthly_files, monkeypatch: pytest.MonkeyPatch, churn_home: Path
) -> None:
    paths, n_rows = monthly_files
    s3.create_bucket(Bucket=LANDING)
    s3.create_bucket(Bucket=WAREHOUSE)
    _upload(s3, paths)
    monkeypatch.setenv("CHURN_DATA_URI", f"s3://{LANDING}/{PREFIX}")
    monkeypatch.setenv("CHURN_STORAGE_URI", f"s3://{WAREHOUSE}/churn")

    from churn_assets.defs.ingestion import assets, checks
    from churn_assets.defs.resources import platform_resources

    resources = platform_resources()
    instance = dg.DagsterInstance.ephemeral()

    # Observing the source over S3 records the same version source_version computes.
    # (What dg.observe did before it left the public API: an asset job over the source.)
    observe_job = dg.define_asset_job(
        "observe_source", selection=dg.AssetSelection.all(include_sources=True)
    )
    observed = (
        dg.Definitions(assets=[assets.customer_source], jobs=[observe_job], resources=resources)
        .resolve_job_def("observe_source")
        .execute_in_process(instance=instance)
    )
    assert observed.success
    [observation] = observed.get_asset_observation_events()
    expected_version, _ = source_version(
        parse_data_uri(f"s3://{LANDING}/{PREFIX}"), _client_factory()
    )
    assert observation.event_specific_data.asset_observation.data_version == expected_version

    result = dg.materialize(
        [
            assets.customer_source,
            assets.raw_customers,
            assets.validate_customers,
            checks.required_columns_present,
            checks.conforms_to_contract,
            checks.target_has_both_classes,
        ],
        instance=instance,
        resources=resources,
        raise_on_error=False,
    )
    assert result.success, [e.message for e in result.all_events if e.is_failure]

    mats = {
        e.event_specific_data.materialization.asset_key.to_user_string(): {
            k: v.value for k, v in e.event_specific_data.materialization.metadata.items()
        }
        for e in result.get_asset_materialization_events()
    }
    assert set(mats) == {"raw_customers", "validated_customers", "quarantined_customers"}
    raw, valid, quarantined = (
        mats["raw_customers"],
        mats["validated_customers"],
        mats["quarantined_customers"],
    )
    assert raw["dagster/row_count"] == n_rows
    assert raw["files"] == [f"{PREFIX}{p.name}" for p in paths]
    assert valid["rows_received"] == n_rows
    assert valid["rows_valid"] + valid["rows_quarantined"] == n_rows
    assert valid["dagster/row_count"] == valid["rows_valid"]
    assert quarantined["dagster/row_count"] == valid["rows_quarantined"] > 0
    evaluations = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert evaluations == {
        "required_columns_present": True,
        "rejected_share_within_limit": True,
        "conforms_to_contract": True,
        "target_has_both_classes": True,
    }

    # The IO manager wrote Parquet to the S3 server (and nothing to the local CHURN_HOME).
    names = ("raw_customers", "validated_customers", "quarantined_customers")
    assert _keys(s3, WAREHOUSE) == sorted(f"churn/{name}.parquet" for name in names)
    assert not (churn_home / "storage").exists()
    expected_rows = {
        "raw_customers": n_rows,
        "validated_customers": valid["rows_valid"],
        "quarantined_customers": valid["rows_quarantined"],
    }
    for name in names:
        key = f"churn/{name}.parquet"
        body = s3.get_object(Bucket=WAREHOUSE, Key=key)["Body"].read()
        assert body[:4] == b"PAR1"
        via_boto = pd.read_parquet(io.BytesIO(body))
        # pandas -> fsspec -> s3fs, configured by the environment alone.
        via_s3fs = pd.read_parquet(f"s3://{WAREHOUSE}/{key}")
        assert len(via_boto) == len(via_s3fs) == expected_rows[name]
        pd.testing.assert_frame_equal(via_boto, via_s3fs)
    validated = pd.read_parquet(f"s3://{WAREHOUSE}/churn/validated_customers.parquet")
    assert "_source" not in validated.columns
    assert pd.api.types.is_datetime64_any_dtype(validated["snapshot_month"])
