"""The data source URI and the simulator settings a sim:// URI asks for."""

from __future__ import annotations

import pytest

from churn_assets.lib.ingestion.errors import SourceError
from churn_assets.lib.ingestion.uri import parse_data_uri, simulator_config


@pytest.mark.parametrize(
    ("uri", "scheme", "location"),
    [
        (None, "sim", "default"),
        ("", "sim", "default"),
        ("sim://default", "sim", "default"),
        ("sim://?customers=10&months=2", "sim", "default"),
        ("data/x.csv", "file", "data/x.csv"),
        ("/abs/folder/", "file", "/abs/folder/"),
        ("file:///abs/x.parquet", "file", "/abs/x.parquet"),
        ("s3://bucket/some/prefix/", "s3", "bucket/some/prefix/"),
    ],
)
def test_parse_data_uri(uri: str | None, scheme: str, location: str) -> None:
    parsed = parse_data_uri(uri)
    assert (parsed.scheme, parsed.location) == (scheme, location)


def test_s3_uri_parts() -> None:
    parsed = parse_data_uri("s3://landing/monthly/2026/")
    assert (parsed.bucket, parsed.prefix) == ("landing", "monthly/2026/")


@pytest.mark.parametrize("uri", ["ftp://host/x.csv", "s3:///no-bucket"])
def test_unsupported_uris_are_explained(uri: str) -> None:
    with pytest.raises(SourceError):
        parse_data_uri(uri)


def test_simulator_uri_parameters() -> None:
    config = simulator_config(
        parse_data_uri("sim://?customers=300&months=4&seed=9&drift_start=2&price_rise=0.1")
    )
    assert (config.n_customers, config.months, config.seed) == (300, 4, 9)
    assert config.drift is not None
    assert (config.drift.start_month, config.drift.price_rise) == (2, 0.1)
    with pytest.raises(SourceError, match="unknown"):
        simulator_config(parse_data_uri("sim://?customer=3"))
    with pytest.raises(SourceError, match="months"):
        simulator_config(parse_data_uri("sim://?months=six"))
