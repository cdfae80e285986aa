"""A Postgres table as CHURN_DATA_URI through Dagster: the source is observed and read, bad
rows are quarantined with their row ids, and a password left in the URI reaches no event."""

from __future__ import annotations

import pytest

from churn_assets.lib.ingestion.simulator import SimulatorConfig, simulate
from churn_assets.team import postgres
from churn_assets_tests.defs.test_definitions import INGESTION, materialized, run

PASSWORD = "hunter2-not-for-logs"


def test_a_postgres_table_is_the_source_and_its_password_stays_out_of_the_events(
    pg: postgres.Postgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy import create_engine

    url = pg.create_database("crm_dagster")
    frame = simulate(SimulatorConfig(n_customers=200, months=2, seed=3, dirty_rate=0)).snapshots
    frame = frame.sort_values(["customerID", "snapshot_month"], ignore_index=True)
    frame.loc[9, "MonthlyCharges"] = -40.0
    engine = create_engine(url)
    frame.to_sql("customers", engine, index=False, if_exists="replace")
    engine.dispose()
    # The embedded server trusts local connections, so the password is carried, not checked.
    with_password = url.replace("postgres:@", f"postgres:{PASSWORD}@")
    uri = f"{with_password}&table=customers&order_by=customerID,snapshot_month"
    monkeypatch.setenv("CHURN_DATA_URI", uri)

    result = run(["customer_source", *INGESTION])
    assert result.success
    done = materialized(result)
    assert done["raw_customers"]["source"].startswith("table customers in postgresql")
    assert done["quarantined_customers"]["dagster/row_count"] == 1
    quarantined = result.output_for_node("validate_customers", "quarantined_customers")
    assert list(quarantined["_line"]) == [10]  # the row's position in key order, 1-based
    observed = next(
        e for e in result.all_events if e.event_type_value == "ASSET_OBSERVATION"
    ).event_specific_data.asset_observation.metadata
    assert observed["rows"].value == len(frame)
    shown = " ".join(str(event) for event in result.all_events)
    assert PASSWORD not in shown and "postgres:***@" in shown
