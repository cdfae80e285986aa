"""File stores: what a local path lists, and the errors that name it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from churn_assets.lib.ingestion.errors import SourceError, SourceNotFoundError
from churn_assets.lib.ingestion.stores import fingerprint, open_store
from churn_assets.lib.ingestion.uri import parse_data_uri


def test_a_folder_lists_its_data_files_in_name_order(tmp_path: Path) -> None:
    for name in ("b.parquet", "a.csv", "notes.txt", "C.CSV"):
        (tmp_path / name).write_text("x")
    files = open_store(parse_data_uri(str(tmp_path))).list_files()
    assert [Path(f.name).name for f in files] == ["C.CSV", "a.csv", "b.parquet"]
    assert fingerprint(files) == fingerprint(reversed(files))


def test_missing_path_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "data.csv"
    with pytest.raises(SourceNotFoundError, match=re.escape(str(missing))):
        open_store(parse_data_uri(str(missing))).list_files()


def test_folder_without_data_files(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(SourceNotFoundError, match=r"no \.csv or \.parquet"):
        open_store(parse_data_uri(str(tmp_path))).list_files()


def test_stores_exist_only_for_files_and_s3() -> None:
    with pytest.raises(SourceError, match="S3 client"):
        open_store(parse_data_uri("s3://bucket/prefix/"))
    with pytest.raises(SourceError, match="no file store"):
        open_store(parse_data_uri("sim://default"))
