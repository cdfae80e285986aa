"""The embedded Postgres: databases, and a stop and start again within one process (what
`team down` then `team up` do in a test session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from churn_assets.team import postgres


def test_stop_then_start_again_in_the_same_process(tmp_path: Path) -> None:
    folder = tmp_path / "pg"
    server = postgres.start(folder, keep_running=True)
    try:
        url = server.create_database("churn_dagster")
        assert url.startswith("postgresql+psycopg2://") and "churn_dagster" in url
        assert server.create_database("churn_dagster") == url  # idempotent
        assert postgres.stop(folder) is True
        assert postgres.stop(folder) is False
        again = postgres.start(folder, keep_running=True)
        assert again.databases() == ["churn_dagster"]  # the data outlived the stop
    finally:
        postgres.stop(folder)


def test_a_database_name_is_checked_before_it_reaches_sql(tmp_path: Path) -> None:
    server = postgres.Postgres(tmp_path, str(tmp_path))
    with pytest.raises(ValueError, match="not a plain Postgres database name"):
        server.create_database("x; DROP DATABASE dagster")
