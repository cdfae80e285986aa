"""Cheap checks on a landed file's name and bytes (the rejections themselves, once per
version, are exercised through the scan in test_landing.py)."""

from __future__ import annotations

import pytest

from churn_assets.lib.monitoring.file_checks import content_problem, name_problem

GOOD = b"customerID,tenure,Churn\n0001-A,5,No\n0002-B,17,Yes\n"


def test_content_problem_accepts_plausible_files() -> None:
    assert content_problem(GOOD, "a.csv") is None
    assert content_problem(b"\xef\xbb\xbf" + GOOD, "a.csv") is None  # UTF-8 BOM
    assert content_problem(GOOD.replace(b"\n", b"\r"), "a.csv") is None  # classic Mac
    assert content_problem(b"id\n1", "a.csv") is None  # no final newline


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("customers_2026-04.csv", None),
        ("nested/customers_2026-04.parquet", None),
        ("customers_2026-04.xlsx", "unsupported file type '.xlsx'"),
        ("customers.csv", "no YYYY-MM month"),
        ("customers_2026-04_2026-05.csv", "several months (2026-04, 2026-05)"),
    ],
)
def test_name_problem(name: str, problem: str | None) -> None:
    found = name_problem(name)
    assert found is None if problem is None else problem in found


def test_a_repeated_header_column_is_rejected_by_name() -> None:
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    problem = content_problem(b"customerID,tenure,tenure\r\n1,2,3\r\n", "c_2026-04.csv")
    assert problem == (
        "c_2026-04.csv: duplicated header column(s) ['tenure']: each column may appear once "
        "(rename or remove the copy and upload the file again)"
    )
    table = pa.table([pa.array(["1"]), pa.array([3]), pa.array([4])], names=["id", "t", "t"])
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    assert "duplicated header column(s) ['t']" in content_problem(buffer.getvalue(), "c.parquet")
