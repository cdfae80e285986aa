"""Score sinks are idempotent per run: a second attempt of a run replaces what the first
wrote (a retried step never doubles a run's scores), other runs stay; a table that is not a
scores table and a database sink without a table are refused by name. On SQLite and Postgres,
and Parquet in a folder and in a bucket (moto's S3)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pandas as pd
import pytest

from churn_assets.lib.scoring.sinks import RUN_COLUMN, SinkError, open_sink

_databases = itertools.count()


@pytest.fixture(params=["parquet", "bucket", "sqlite", "postgres"])
def sink_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "parquet":
        return str(tmp_path / "scores")
    if request.param == "bucket":
        import boto3

        endpoint = request.getfixturevalue("s3_env")
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="churn-scores")
        return "s3://churn-scores/scores"
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'scores.db'}?table=churn_scores"
    url = request.getfixturevalue("pg").create_database(f"sinks_{next(_databases)}")
    return f"{url}&table=churn_scores"


def _chunk(n: int, run: str) -> pd.DataFrame:
    return pd.DataFrame(
        {"customerID": [f"c{i}" for i in range(n)], "churn_probability": 0.5, RUN_COLUMN: run}
    )


def _written(uri: str) -> pd.DataFrame:
    if "table=" not in uri:
        return pd.read_parquet(uri).astype({RUN_COLUMN: str})
    from sqlalchemy import create_engine

    from churn_assets.lib.ingestion.sql import with_installed_driver
    from churn_assets.lib.ingestion.uri import parse_data_uri

    parsed = parse_data_uri(uri)
    engine = create_engine(with_installed_driver(parsed.location))
    try:
        return pd.read_sql_table(parsed.params["table"], engine)
    finally:
        engine.dispose()


def test_a_second_attempt_of_a_run_replaces_the_first(sink_uri: str) -> None:
    other = open_sink(sink_uri, "run-a")
    assert other.start() == 0
    other.write(_chunk(3, "run-a"))
    first = open_sink(sink_uri, "run-b")
    first.start()
    first.write(_chunk(4, "run-b"))
    first.write(_chunk(2, "run-b"))  # a crash after this: the attempt is incomplete
    retry = open_sink(sink_uri, "run-b")
    assert retry.start() == 6  # what the failed attempt wrote is gone before anything new
    retry.write(_chunk(4, "run-b"))
    retry.write(_chunk(5, "run-b"))
    for sink in (other, first, retry):
        getattr(sink, "close", lambda: None)()
    counts = _written(sink_uri).groupby(RUN_COLUMN).size().to_dict()
    assert counts == {"run-a": 3, "run-b": 9}


def test_a_table_that_is_not_a_scores_table_is_refused(tmp_path: Path) -> None:
    from sqlalchemy import create_engine

    url = f"sqlite:///{tmp_path / 'crm.db'}"
    engine = create_engine(url)
    pd.DataFrame({"customerID": ["a"]}).to_sql("customers", engine, index=False)
    engine.dispose()
    with pytest.raises(SinkError, match="without a 'run_id' column: it is not a scores table"):
        open_sink(f"{url}?table=customers", "run-a").start()
    with pytest.raises(SinkError, match="a database sink needs `table=`"):
        open_sink(url, "run-a")
    with pytest.raises(SinkError, match="no sink"):
        open_sink(" ", "run-a")
