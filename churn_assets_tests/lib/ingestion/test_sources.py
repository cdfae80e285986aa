"""Reading sources: URIs, local files and folders, and every kind of malformed input."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from churn_assets.lib.ingestion.simulator import SimulatorConfig, simulate, write_monthly_files
from churn_assets.lib.ingestion.sources import (
    SourceError,
    SourceFormatError,
    SourceNotFoundError,
    load_raw,
    parse_data_uri,
    read_table,
    simulator_config,
    source_version,
)

HEADER = "customerID,gender,tenure,Churn\n"


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


def test_simulator_source_has_lineage() -> None:
    loaded = load_raw(parse_data_uri("sim://?customers=200&months=2&dirty_rate=0"))
    assert len(loaded.frame) == 400
    assert (loaded.frame["_source"] == "simulator").all()
    assert loaded.frame["_parse_error"].isna().all()


def test_folder_of_monthly_files(tmp_path: Path) -> None:
    result = simulate(SimulatorConfig(n_customers=150, months=3, seed=1))
    paths = write_monthly_files(result, tmp_path / "landing")
    # Files without a snapshot column get it from the YYYY-MM in their name.
    for p in paths:
        frame = pd.read_csv(p)
        frame.drop(columns="snapshot_month").to_csv(p, index=False)
    loaded = load_raw(parse_data_uri(str(tmp_path / "landing")), event_time="snapshot_month")
    assert len(loaded.frame) == len(result.snapshots)
    assert loaded.files == [str(p) for p in sorted(paths)]
    months = loaded.frame.groupby("_source")["snapshot_month"].first()
    assert list(months) == ["2026-01-01", "2026-02-01", "2026-03-01"]
    assert loaded.frame["_line"].min() == 2  # physical line numbers, header is line 1


def test_parquet_file(tmp_path: Path) -> None:
    result = simulate(SimulatorConfig(n_customers=100, months=1))
    path = tmp_path / "customers.parquet"
    result.snapshots.to_parquet(path)
    loaded = load_raw(parse_data_uri(f"file://{path}"))
    assert len(loaded.frame) == 100
    assert loaded.frame["tenure"].dtype.kind == "i"


def test_source_version_tracks_new_files(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text(HEADER + "1,Male,3,No\n")
    uri = parse_data_uri(str(tmp_path))
    first, n = source_version(uri)
    assert n == 1
    assert source_version(uri) == (first, 1)
    (tmp_path / "b.csv").write_text(HEADER + "2,Male,3,No\n")
    second, n = source_version(uri)
    assert n == 2 and second != first


def test_missing_path_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "data.csv"
    with pytest.raises(SourceNotFoundError, match=re.escape(str(missing))):
        load_raw(parse_data_uri(str(missing)))


def test_folder_without_data_files(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(SourceNotFoundError, match=r"no \.csv or \.parquet"):
        load_raw(parse_data_uri(str(tmp_path)))


@pytest.mark.parametrize("content", [b"", b"\n\n", b"   "])
def test_empty_file_is_a_clear_error(content: bytes) -> None:
    with pytest.raises(SourceFormatError, match=r"x\.csv"):
        read_table(content, "x.csv")


def test_an_unreadable_file_in_a_folder_is_skipped_and_reported(tmp_path: Path) -> None:
    good = "customerID,tenure\n1,3\n2,5\n"
    (tmp_path / "customers_2026-01.csv").write_text(good)
    (tmp_path / "customers_2026-02.csv").write_text("")
    loaded = load_raw(parse_data_uri(str(tmp_path)))
    assert len(loaded.frame) == 2
    assert [Path(f).name for f in loaded.files] == ["customers_2026-01.csv"]
    [(skipped, reason)] = loaded.skipped.items()
    assert skipped.endswith("customers_2026-02.csv") and "empty" in reason
    (tmp_path / "customers_2026-01.csv").write_text("   ")
    with pytest.raises(SourceFormatError, match="no readable file"):
        load_raw(parse_data_uri(str(tmp_path)))


def test_corrupt_parquet_and_unknown_type() -> None:
    with pytest.raises(SourceFormatError, match="not a readable Parquet"):
        read_table(b"PAR1 this is not parquet", "x.parquet")
    with pytest.raises(SourceFormatError, match="unsupported file type"):
        read_table(b"a,b\n1,2\n", "x.xlsx")


def test_malformed_lines_become_error_rows() -> None:
    data = (HEADER + "1,Male,3,No\n2,Female,5\n3,Male,1,No,extra\n4,Female,9,Yes\n").encode()
    frame = read_table(data, "m.csv")
    assert len(frame) == 4  # nothing dropped
    errors = frame[frame["_parse_error"].notna()].set_index("_line")
    assert sorted(errors.index) == [3, 4]
    assert "expected 4 fields, got 3" in errors.loc[3, "_parse_error"]
    assert "got 5" in errors.loc[4, "_parse_error"]
    good = frame[frame["_parse_error"].isna()]
    assert good.set_index("_line")["customerID"].to_dict() == {2: "1", 5: "4"}


def test_non_utf8_lines_become_error_rows() -> None:
    data = HEADER.encode() + b"1,Male,3,No\n2,F\xe9male,5,No\n3,Male,1,No\n"
    frame = read_table(data, "latin.csv")
    assert len(frame) == 3
    bad = frame[frame["_parse_error"].notna()]
    assert bad["_line"].tolist() == [3]
    assert "not UTF-8" in bad["_parse_error"].iloc[0]
    good = frame[frame["_parse_error"].isna()].set_index("_line")["customerID"]
    assert good.to_dict() == {2: "1", 4: "3"}


def test_text_is_kept_verbatim() -> None:
    frame = read_table((HEADER + "007,Male, 3 ,No\n").encode(), "t.csv")
    # Leading zeros and spaces survive reading; types are validation's business.
    assert frame.loc[0, "customerID"] == "007"
    assert frame.loc[0, "tenure"] == " 3 "
