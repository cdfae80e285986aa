"""The score_customers job on the session's served champion: a database table of customers
without outcomes is scored in chunks into a database table and into Parquet (there with the top
reasons), with the same scores as the champion's scorer on the whole table; broken rows are
written aside with their row ids; a table without a required field fails naming it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import pytest

from churn_assets.definitions import defs as load_defs
from churn_assets.lib.ingestion.simulator import SimulatorConfig, simulate
from churn_assets_tests.defs.test_definitions import materialized

pytestmark = pytest.mark.slow


@pytest.fixture
def champion_home(built: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Path:
    """The served-bento session's home (champion v1), read only."""
    monkeypatch.setenv("CHURN_HOME", str(built["home"]))
    return built["home"]


def _customers() -> pd.DataFrame:
    frame = simulate(SimulatorConfig(n_customers=260, months=1, seed=9, dirty_rate=0)).snapshots
    frame = frame.drop(columns="Churn").sort_values("customerID", ignore_index=True)
    frame.loc[[5, 200], "tenure"] = -3  # broken on purpose: rows 6 and 201
    return frame


def _write(url: str, frame: pd.DataFrame, table: str) -> None:
    from sqlalchemy import create_engine

    engine = create_engine(url)
    frame.to_sql(table, engine, index=False, if_exists="replace")
    engine.dispose()


def _read(url: str, table: str) -> pd.DataFrame:
    from sqlalchemy import create_engine

    engine = create_engine(url)
    try:
        return pd.read_sql_table(table, engine)
    finally:
        engine.dispose()


def _score(config: dict) -> dg.ExecuteInProcessResult:
    job = load_defs().resolve_job_def("score_customers")
    return job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        run_config={"ops": {"customer_scores": {"config": config}}},
        raise_on_error=False,
    )


def test_a_table_is_scored_in_chunks_into_a_table_and_into_parquet(
    champion_home: Path, tmp_path: Path
) -> None:
    from churn_assets.lib.contract import DataContract
    from churn_assets.lib.monitoring.champion import load_champion
    from churn_assets.lib.tracking import default_tracking_uri

    crm = f"sqlite:///{tmp_path / 'crm.db'}"
    customers = _customers()
    _write(crm, customers, "customers")
    source = f"{crm}?table=customers&order_by=customerID"
    # SQLite locks the file being read: the sink goes to another file, and the same is refused.
    same = _score({"source_uri": source, "sink_uri": f"{crm}?table=churn_scores"})
    failure = next(e for e in same.all_events if e.is_step_failure)
    assert "in the source's SQLite file" in failure.step_failure_data.error.message
    out = f"sqlite:///{tmp_path / 'scores.db'}"
    result = _score(
        {"source_uri": source, "sink_uri": f"{out}?table=churn_scores", "chunk_rows": 100}
    )
    assert result.success
    meta = materialized(result)["customer_scores"]
    assert (meta["rows"], meta["scored"], meta["rejected"], meta["chunks"]) == (260, 258, 2, 3)
    assert meta["model_version"] == "1"
    check = result.get_asset_check_evaluations()[0]
    assert check.passed and check.metadata["value"].value == round(2 / 260, 5)  # <= 0.05

    scores = _read(out, "churn_scores")
    assert len(scores) == 258 and set(scores["run_id"]) == {result.run_id}
    rejected = _read(out, "churn_scores_rejected")
    assert sorted(rejected["_line"]) == [6, 201]
    assert rejected["_reasons"].str.contains("tenure").all()

    # The scores are the champion's, chunking or not.
    import mlflow

    mlflow.set_tracking_uri(default_tracking_uri(champion_home))
    champion = load_champion("churn-model", DataContract.load())
    valid = customers.drop(index=[5, 200]).reset_index(drop=True)
    expected = champion.scorer.predict_proba(valid[DataContract.load().feature_columns])
    got = scores.set_index("customerID").loc[valid["customerID"], "churn_probability"]
    assert got.to_numpy() == pytest.approx(expected, abs=1e-12)

    # The same source into Parquet, one folder per run, with each score's top two reasons.
    folder = tmp_path / "scores"
    parquet = _score(
        {"source_uri": source, "sink_uri": str(folder), "chunk_rows": 100, "top_reasons": 2}
    )
    assert parquet.success
    written = pd.read_parquet(folder)
    assert len(written) == 258 and set(written["run_id"].astype(str)) == {parquet.run_id}
    same = written.set_index("customerID").loc[valid["customerID"], "churn_probability"]
    assert same.to_numpy() == pytest.approx(expected, abs=1e-12)
    reasons = written[["reason_1", "reason_2"]]
    assert reasons.notna().all().all() and "reason_3" not in written
    assert reasons["reason_1"].str.fullmatch(r"\w+=.+ \([+-]\d+\.\d\d\)").all()


def test_a_table_without_a_required_field_fails_naming_it(
    champion_home: Path, tmp_path: Path
) -> None:
    crm = f"sqlite:///{tmp_path / 'crm.db'}"
    _write(crm, _customers().drop(columns="Contract"), "customers")
    result = _score({"source_uri": f"{crm}?table=customers", "sink_uri": str(tmp_path / "out")})
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "Contract" in failure.step_failure_data.error.message
