"""Readers: every kind of malformed input becomes a clear error or an error row."""

from __future__ import annotations

import pytest

from churn_assets.lib.ingestion.errors import SourceFormatError
from churn_assets.lib.ingestion.readers import read_table

HEADER = "customerID,gender,tenure,Churn\n"


@pytest.mark.parametrize("content", [b"", b"\n\n", b"   "])
def test_empty_file_is_a_clear_error(content: bytes) -> None:
    with pytest.raises(SourceFormatError, match=r"x\.csv"):
        read_table(content, "x.csv")


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


@pytest.mark.parametrize(
    "header", ["customerID,gender,gender,Churn", 'customerID,"gender",gender,Churn']
)
def test_a_repeated_header_column_is_a_clear_error(header: str) -> None:
    # pandas would rename the copy to `gender.1`; the file holds two `gender` columns.
    with pytest.raises(
        SourceFormatError, match=r"dup\.csv: duplicated header column\(s\) \['gender'\]"
    ):
        read_table(f"{header}\n1,Male,Female,No\n".encode(), "dup.csv")


def test_a_repeated_parquet_column_is_a_clear_error() -> None:
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table([pa.array(["1"]), pa.array([3]), pa.array([4])], names=["id", "t", "t"])
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    with pytest.raises(SourceFormatError, match=r"duplicated header column\(s\) \['t'\]"):
        read_table(buffer.getvalue(), "dup.parquet")
