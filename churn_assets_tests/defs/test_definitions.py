"""Dagster wiring: definitions, the whole graph, blocking checks, and data versions."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from churn_assets.definitions import defs as load_defs
from churn_assets.lib.ingestion.simulator import SimulatorConfig, simulate, write_monthly_files
from churn_assets.lib.training.families import FAMILIES
from churn_assets_tests.datasets import write_subscription_dataset

INGESTION = ["raw_customers", "validated_customers", "quarantined_customers"]
ALL_ASSETS = [
    *INGESTION,
    "customer_features",
    "train_set",
    "validation_set",
    "test_set",
    "feature_preprocessor",
    "eda_report",
]
TRAINING = [f"tuned_{f}" for f in FAMILIES] + [
    "champion_candidate",
    "evaluation_report",
    "fairness_report",
    "explanations",
    "model_card",
    "drift_reference",
    "promotion_decision",
]
# Tests tune with a tiny budget; `make demo` uses the "demo" preset.
FAST_TUNING = {"n_trials": 2, "timeout_s": 30, "cv_folds": 2}


def run(
    selection: list[str] | None = None,
    instance: dg.DagsterInstance | None = None,
    ops: dict | None = None,
) -> dg.ExecuteInProcessResult:
    """Materialize (a selection of) the graph with the current environment's settings
    (``ops``: extra run config per asset, e.g. the gate's mode)."""
    defs = load_defs()
    job = defs.resolve_implicit_global_asset_job_def()
    # Everything but the operator-only rollback (it needs a reason in its config).
    keys = [dg.AssetKey(k) for k in (selection or ["customer_source", *ALL_ASSETS, *TRAINING])]
    tuned = [k for k in (selection or TRAINING) if k.startswith("tuned_")]
    return job.execute_in_process(
        instance=instance or dg.DagsterInstance.ephemeral(),
        asset_selection=keys,
        raise_on_error=False,
        run_config={"ops": {**{k: {"config": FAST_TUNING} for k in tuned}, **(ops or {})}},
    )


def materialized(result: dg.ExecuteInProcessResult) -> dict[str, dict]:
    """Asset name -> metadata values of its materialization in this run."""
    out = {}
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization
        out[mat.asset_key.to_user_string()] = {k: v.value for k, v in mat.metadata.items()}
        out[mat.asset_key.to_user_string()]["_tags"] = dict(mat.tags or {})
    return out


def checks(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    """Check name -> evaluation."""
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_definitions_load() -> None:
    defs = load_defs()
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {*ALL_ASSETS, *TRAINING, "customer_source"} <= keys
    check_names = {k.name for k in graph.asset_check_keys}
    assert {
        "required_columns_present",
        "rejected_share_within_limit",
        "conforms_to_contract",
        "target_has_both_classes",
        "no_customer_in_two_splits",
    } <= check_names
    groups = {graph.get(dg.AssetKey(k)).group_name for k in ALL_ASSETS + TRAINING}
    assert groups == {"ingestion", "features", "exploration", "training", "evaluation", "registry"}
    assert defs.resolve_job_def("churn_pipeline") is not None


@pytest.mark.slow
def test_whole_graph_on_the_simulator(monkeypatch: pytest.MonkeyPatch, churn_home: Path) -> None:
    monkeypatch.setenv("CHURN_DATA_URI", "sim://?customers=600&months=3&dirty_rate=0.01&seed=3")
    result = run()
    assert result.success
    mats = materialized(result)
    assert set(ALL_ASSETS + TRAINING) <= set(mats)
    raw, valid = mats["raw_customers"], mats["validated_customers"]
    assert raw["dagster/row_count"] == 1800
    assert valid["rows_valid"] + valid["rows_quarantined"] == 1800
    assert valid["rows_quarantined"] == mats["quarantined_customers"]["dagster/row_count"]
    assert 0 < valid["rows_quarantined"] < 40
    splits = sum(mats[s]["dagster/row_count"] for s in ("train_set", "validation_set", "test_set"))
    assert splits == valid["rows_valid"]
    # The registered champion carries every row it was built from; labels on test rows only.
    reference = mats["drift_reference"]
    assert reference["rows"] == splits
    assert (
        reference["test_rows"]
        == reference["labelled_rows"]
        == mats["test_set"]["dagster/row_count"]
    )
    verdicts = checks(result)
    assert all(v.passed for v in verdicts.values()), {k: v.passed for k, v in verdicts.items()}
    assert verdicts["rejected_share_within_limit"].metadata["threshold"].value == 0.05
    assert (churn_home / "storage" / "validated_customers.parquet").is_file()
    assert (churn_home / "storage" / "feature_preprocessor.joblib").is_file()
    assert (churn_home / "reports" / "eda" / "eda.html").is_file()
    assert "base64" in mats["eda_report"]["plot_mutual_information"]
    stored = pd.read_parquet(churn_home / "storage" / "quarantined_customers.parquet")
    assert stored["_reasons"].str.len().gt(0).all()
    # Privacy by contract: no customer id reaches the event log (previews and examples carry
    # pseudonyms), and no stored object other than a table holds one (docs/privacy.md).
    ids = set(pd.read_parquet(churn_home / "storage" / "raw_customers.parquet")["customerID"])
    ids = {str(i) for i in ids if isinstance(i, str) and len(i) >= 6}
    assert len(ids) > 500
    logged = "\n".join(repr(event) for event in result.all_events)
    assert not [i for i in ids if i in logged]
    for artifact in (churn_home / "storage").glob("*.joblib"):
        blob = artifact.read_bytes()
        assert not [i for i in ids if i.encode() in blob], artifact.name


def test_too_many_bad_rows_block_downstream(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHURN_DATA_URI", "sim://?customers=300&months=2&dirty_rate=0.2")
    result = run([*INGESTION, "customer_features"])
    verdict = checks(result)["rejected_share_within_limit"]
    assert not verdict.passed
    assert verdict.metadata["value"].value == pytest.approx(0.2, abs=0.03)
    mats = materialized(result)
    # Bad rows are still kept (and visible) even though the chain stops.
    assert "quarantined_customers" in mats
    assert "customer_features" not in mats


def test_missing_column_stops_before_validation(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    frame = simulate(SimulatorConfig(n_customers=50, months=1)).snapshots
    path = tmp_path / "no_tenure.csv"
    frame.drop(columns=["tenure"]).to_csv(path, index=False)
    monkeypatch.setenv("CHURN_DATA_URI", str(path))
    result = run([*INGESTION, "customer_features"])
    verdict = checks(result)["required_columns_present"]
    assert not verdict.passed
    assert verdict.metadata["missing_columns"].value == ["tenure"]
    assert "tenure" in (verdict.description or "")
    assert set(materialized(result)) == {"raw_customers"}


def test_missing_source_fails_with_its_name(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = tmp_path / "landing" / "2026-01.csv"
    monkeypatch.setenv("CHURN_DATA_URI", str(missing))
    result = run(["raw_customers"])
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = failure.event_specific_data.error.message
    assert str(missing) in message
    assert "not found" in message


def test_data_versions_follow_content(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    result = simulate(SimulatorConfig(n_customers=100, months=3))
    paths = write_monthly_files(result, landing)
    paths[-1].rename(tmp_path / paths[-1].name)  # month 3 has not landed yet
    monkeypatch.setenv("CHURN_DATA_URI", str(landing))

    def versions() -> dict[str, str]:
        mats = materialized(run(INGESTION))
        return {k: v["_tags"]["dagster/data_version"] for k, v in mats.items()}

    first, again = versions(), versions()
    # Same content, same data versions: nothing downstream becomes stale.
    assert first == again
    (tmp_path / paths[-1].name).rename(paths[-1])
    after = versions()
    assert after["raw_customers"] != first["raw_customers"]
    assert after["validated_customers"] != first["validated_customers"]


@pytest.mark.slow
def test_another_dataset_needs_only_a_contract(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, churn_home: Path
) -> None:
    contract_path, landing = write_subscription_dataset(tmp_path / "subs")
    monkeypatch.setenv("CHURN_CONTRACT", str(contract_path))
    monkeypatch.setenv("CHURN_DATA_URI", str(landing))
    # The gate's verdict on this small synthetic dataset is not the point here (its weak
    # signal fails the default floors, as it should); everything up to the gate must run.
    upto_gate = [a for a in ALL_ASSETS + TRAINING if a != "promotion_decision"]
    result = run(upto_gate)
    assert result.success
    mats = materialized(result)
    assert set(upto_gate) <= set(mats)
    assert mats["validated_customers"]["rows_valid"] == 4500
    features = pd.read_parquet(churn_home / "storage" / "customer_features.parquet")
    assert list(features.columns[:2]) == ["account_id", "period"]
    assert features["_target"].isin([0, 1]).all()


def test_definitions_do_not_import_heavy_libraries() -> None:
    # Loading the definitions is on every `dg dev` and run worker's path: the ML stack must
    # only be imported by the assets that use it (timings are in benchmarks/).
    probe = (
        "import sys; from churn_assets.definitions import defs; defs();"
        "heavy = ['sklearn', 'pandas', 'pandera', 'evidently', 'mlflow', 'bentoml', 'shap',"
        " 'xgboost', 'lightgbm', 'optuna', 'matplotlib'];"
        "print(','.join(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
