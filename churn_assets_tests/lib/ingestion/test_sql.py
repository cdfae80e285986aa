"""A database table or query as the customer source, on SQLite and on a real Postgres: rows
arrive with lineage (table, row position), bad rows are quarantined with their row ids, and
validated rows equal those of the same data read from a file; a missing table, an unreachable
server and a bad URI are named errors that never show a password; the version follows the
data (row count and newest update, or every row)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from churn_assets.lib.contract import DataContract
from churn_assets.lib.ingestion.errors import SourceError, SourceNotFoundError
from churn_assets.lib.ingestion.readers import LINEAGE_COLUMNS
from churn_assets.lib.ingestion.simulator import SimulatorConfig, simulate
from churn_assets.lib.ingestion.sources import load_raw, source_version
from churn_assets.lib.ingestion.sql import display_url
from churn_assets.lib.ingestion.uri import parse_data_uri
from churn_assets.lib.ingestion.validation import validate_frame

ORDER = "&order_by=customerID,snapshot_month"
_databases = itertools.count()


@pytest.fixture(scope="module")
def customers() -> pd.DataFrame:
    """Two simulated months, ordered by the contract's key, three rows broken on purpose."""
    frame = simulate(SimulatorConfig(n_customers=120, months=2, seed=5, dirty_rate=0)).snapshots
    frame = frame.sort_values(["customerID", "snapshot_month"], ignore_index=True)
    frame["updated_at"] = "2026-11-01T00:00:00"
    frame.loc[[3, 50], "tenure"] = -5
    frame.loc[100, "Contract"] = "Forever"
    return frame


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each kind, as a SQLAlchemy URL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'crm.db'}"
    else:
        pg = request.getfixturevalue("pg")
        yield pg.create_database(f"crm_{next(_databases)}")


def _write(url: str, frame: pd.DataFrame, table: str = "customers") -> None:
    from sqlalchemy import create_engine

    engine = create_engine(url)
    try:
        frame.to_sql(table, engine, index=False, if_exists="replace")
    finally:
        engine.dispose()


def _uri(url: str, params: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{params}"


def test_a_table_is_validated_like_a_file_and_bad_rows_keep_their_row_ids(
    database: str, customers: pd.DataFrame, contract: DataContract
) -> None:
    _write(database, customers)
    loaded = load_raw(parse_data_uri(_uri(database, "table=customers" + ORDER + "&chunk_rows=37")))
    assert len(loaded.frame) == len(customers)
    assert loaded.description.startswith("table customers in ")
    assert (loaded.frame["_source"] == loaded.description).all()
    result = validate_frame(loaded.frame, contract, source="db")
    # Row ids are positions in key order, 1-based: the broken rows are rows 4, 51 and 101.
    assert sorted(result.quarantined["_line"]) == [4, 51, 101]
    reasons = " ".join(result.quarantined["_reasons"].astype(str))
    assert "tenure" in reasons and "Contract" in reasons
    # The same rows from a file validate to the same table, values and dtypes.
    from_file = validate_frame(
        customers.assign(_source="file", _line=range(1, len(customers) + 1), _parse_error=None),
        contract,
        source="file",
    )
    pd.testing.assert_frame_equal(
        result.valid.drop(columns=[c for c in LINEAGE_COLUMNS if c in result.valid]),
        from_file.valid.drop(columns=[c for c in LINEAGE_COLUMNS if c in from_file.valid]),
    )


def test_a_query_file_selects_the_rows(
    database: str, customers: pd.DataFrame, tmp_path: Path
) -> None:
    _write(database, customers)
    query = tmp_path / "month_to_month.sql"
    query.write_text("SELECT * FROM customers WHERE \"Contract\" = 'Month-to-month';\n")
    loaded = load_raw(parse_data_uri(_uri(database, f"query_file={query}")))
    assert len(loaded.frame) == int((customers["Contract"] == "Month-to-month").sum())
    assert set(loaded.frame["Contract"]) == {"Month-to-month"}
    assert loaded.description.startswith(f"query {query} in ")


def test_a_missing_table_is_named_with_the_tables_there(
    database: str, customers: pd.DataFrame
) -> None:
    _write(database, customers.head(3))
    uri = parse_data_uri(_uri(database, "table=customer"))
    with pytest.raises(
        SourceNotFoundError, match=r"table customer in .*no such table; tables there: customers"
    ):
        load_raw(uri)
    with pytest.raises(SourceNotFoundError, match="no such table"):
        source_version(uri)


def test_the_version_follows_the_data(database: str, customers: pd.DataFrame) -> None:
    from sqlalchemy import create_engine, text

    _write(database, customers)
    by_update = parse_data_uri(_uri(database, "table=customers&updated_column=updated_at"))
    by_content = parse_data_uri(_uri(database, "table=customers"))
    first = {"update": source_version(by_update), "content": source_version(by_content)}
    assert first == {"update": source_version(by_update), "content": source_version(by_content)}
    assert first["update"][1] == first["content"][1] == len(customers)

    engine = create_engine(database)
    with engine.begin() as connection:  # an in-place fix of one row, stamped
        connection.execute(
            text(
                "UPDATE customers SET tenure = 7, updated_at = '2026-11-02T00:00:00' "
                'WHERE "customerID" = :id'
            ),
            {"id": customers.loc[3, "customerID"]},
        )
    engine.dispose()
    assert source_version(by_update)[0] != first["update"][0]
    assert source_version(by_content)[0] != first["content"][0]
    with pytest.raises(SourceError, match="updated_column 'changed' is not a column"):
        source_version(parse_data_uri(_uri(database, "table=customers&updated_column=changed")))


def test_uri_errors_name_the_fix_and_hide_the_password(tmp_path: Path) -> None:
    from churn_assets.team.services import free_port

    secret = f"postgresql://analyst:s3cret@127.0.0.1:{free_port()}/crm"
    uri = parse_data_uri(f"{secret}?table=customers&sslmode=disable")
    assert uri.params == {"table": "customers"}  # the driver's option stays on the URL
    assert uri.location.endswith("/crm?sslmode=disable")
    assert "s3cret" not in uri.display and "analyst:***@" in uri.display
    with pytest.raises(SourceError, match="cannot connect") as refused:
        load_raw(uri)
    assert "s3cret" not in str(refused.value) and "analyst:***@" in str(refused.value)
    with pytest.raises(SourceError, match="exactly one of `table=`") as neither:
        load_raw(parse_data_uri(secret))
    assert "s3cret" not in str(neither.value)
    with pytest.raises(SourceError, match="chunk_rows='0'"):
        load_raw(parse_data_uri(f"sqlite:///{tmp_path / 'x.db'}?table=t&chunk_rows=0"))
    assert display_url("sqlite:////data/crm.db") == "sqlite:////data/crm.db"
