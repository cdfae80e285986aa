"""Training through Dagster: every family tracked in MLflow, the champion candidate, and an
MLflow tracking server."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import joblib
import numpy as np
import pandas as pd
import pytest

from churn_assets.defs.training.assets import _mlflow_link
from churn_assets.lib.contract import DataContract
from churn_assets.lib.features.engineering import TARGET_COL
from churn_assets.lib.features.preprocessing import model_input_columns
from churn_assets.lib.training.families import FAMILIES
from churn_assets_tests.defs.test_definitions import INGESTION, TRAINING, materialized, run
from churn_assets_tests.servers import free_port, server_process

FEATURES = ["customer_features", "train_set", "validation_set", "test_set", "feature_preprocessor"]
SIM = "sim://?customers=500&months=2&seed=5&dirty_rate=0"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict, str]]:
    """One training run shared by the tests of this module."""
    home = tmp_path_factory.mktemp("trained")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CHURN_HOME", str(home))
        mp.setenv("CHURN_DATA_URI", SIM)
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        # The gate has its own tests (test_registry.py); its verdict on 500 simulated
        # customers is not what these tests are about.
        result = run([*INGESTION, *FEATURES, *(a for a in TRAINING if a != "promotion_decision")])
        assert result.success
        yield home, materialized(result), result.run_id


def _client(home: Path):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{home / 'mlflow' / 'mlflow.db'}")


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_family_is_tracked_in_mlflow(trained, family: str, contract: DataContract) -> None:
    home, mats, run_id = trained
    meta = mats[f"tuned_{family}"]
    client = _client(home)
    parent = client.get_run(meta["mlflow_run_id"])
    assert parent.data.tags["dagster.run_id"] == run_id
    assert parent.data.tags["family"] == family
    assert parent.data.metrics["best_cv_roc_auc"] == pytest.approx(meta["best_cv_roc_auc"])
    assert any(k.startswith("best.") for k in parent.data.params)
    children = client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
    )
    assert len(children) == meta["trials_complete"] + meta["trials_pruned"] + meta["trials_failed"]
    assert all(c.data.tags["optuna.study"] == meta["optuna_study"] for c in children)
    assert [i.dataset.name for i in parent.inputs.dataset_inputs] == ["train_set"]

    import mlflow

    info = mlflow.models.get_model_info(meta["mlflow_model_uri"])
    inputs = [spec.name for spec in info.signature.inputs.inputs]
    assert inputs == model_input_columns(contract)


@pytest.mark.slow
def test_champion_candidate(trained, contract: DataContract) -> None:
    home, mats, _ = trained
    meta = mats["champion_candidate"]
    assert meta["family"] in (*FAMILIES, "ensemble")
    assert meta["calibration"] in ("none", "sigmoid", "isotonic")
    assert 0 < meta["threshold"] < 1
    champion = joblib.load(home / "storage" / "champion_candidate.joblib")
    assert champion.threshold == meta["threshold"]
    # The leaderboard's best family is the champion's.
    assert champion.leaderboard.loc[0, "family"] == champion.family
    validation = pd.read_parquet(home / "storage" / "validation_set.parquet")
    p = champion.predict_proba(validation)
    assert ((p >= champion.threshold).astype(int) == champion.predict(validation)).all()
    # The model logged to MLflow is the same model: identical probabilities through pyfunc.
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{home / 'mlflow' / 'mlflow.db'}")
    pyfunc = mlflow.pyfunc.load_model(meta["mlflow_model_uri"])
    columns = model_input_columns(contract)
    via_mlflow = np.asarray(pyfunc.predict(validation[columns]))[:, 1]
    np.testing.assert_allclose(via_mlflow, p, atol=1e-12)
    run = _client(home).get_run(meta["mlflow_run_id"])
    assert run.data.metrics["threshold"] == pytest.approx(champion.threshold)
    assert run.data.params["family"] == champion.family
    assert validation[TARGET_COL].isin([0, 1]).all()


@pytest.fixture
def mlflow_server(tmp_path: Path) -> Iterator[str]:
    """A real `mlflow server` process on a free loopback port (stopped afterwards)."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--backend-store-uri",
        f"sqlite:///{tmp_path / 'server.db'}",
        "--artifacts-destination",
        str(tmp_path / "server-artifacts"),
    ]
    url = f"http://127.0.0.1:{port}"
    with server_process(
        command,
        health_url=f"{url}/health",
        log_path=tmp_path / "mlflow-server.log",
        what="mlflow server",
        timeout_s=90,
        cwd=tmp_path,
    ):
        yield url


def test_mlflow_link_is_clickable_for_a_server_only() -> None:
    server = _mlflow_link("http://mlflow:5000/#/experiments/1/runs/abc")
    assert isinstance(server, dg.UrlMetadataValue) and server.value.startswith("http://")
    local = _mlflow_link("sqlite:///tmp/mlflow.db run abc")
    assert isinstance(local, dg.TextMetadataValue)


@pytest.mark.slow
def test_tracking_server_uri(mlflow_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHURN_DATA_URI", SIM)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    result = run([*INGESTION, *FEATURES, "tuned_lightgbm"], instance=dg.DagsterInstance.ephemeral())
    assert result.success
    meta = materialized(result)["tuned_lightgbm"]
    assert meta["mlflow_run"].startswith(f"{mlflow_server}/#/experiments/")
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_server)
    parent = client.get_run(meta["mlflow_run_id"])
    assert parent.data.tags["family"] == "lightgbm"
    # The model went through the server's artifact proxy and loads back from it.
    import mlflow

    mlflow.set_tracking_uri(mlflow_server)
    info = mlflow.models.get_model_info(meta["mlflow_model_uri"])
    assert info.signature is not None


@pytest.mark.slow
def test_evaluation_report(trained) -> None:
    home, mats, _ = trained
    meta = mats["evaluation_report"]
    champion = mats["champion_candidate"]
    assert Path(meta["report"]).is_file()
    assert meta["mlflow_run_id"] == champion["mlflow_run_id"]
    test = pd.read_parquet(home / "storage" / "test_set.parquet")
    assert meta["test_rows"] == len(test)
    model = joblib.load(home / "storage" / "champion_candidate.joblib")
    from sklearn.metrics import roc_auc_score

    expected = roc_auc_score(test[TARGET_COL], model.predict_proba(test))
    assert meta["test_roc_auc"] == pytest.approx(expected, abs=1e-4)
    # The same number is on the champion's MLflow run, with the report as an artifact.
    run = _client(home).get_run(champion["mlflow_run_id"])
    assert run.data.metrics["test_roc_auc"] == pytest.approx(expected)
    artifacts = {a.path for a in _client(home).list_artifacts(run.info.run_id, "evaluation")}
    assert "evaluation/evaluation.html" in artifacts
    assert "base64" in meta["plot_calibration"]


@pytest.mark.slow
def test_fairness_report(trained) -> None:
    _, mats, _ = trained
    meta = mats["fairness_report"]
    # The built-in contract judges both attributes on equal opportunity (docs/fairness.md); an
    # attribute with fewer than two groups large enough is listed as not judged instead.
    for attribute in ("gender", "SeniorCitizen"):
        assert attribute in meta["verdicts"]
        key = f"{attribute}_equal_opportunity_difference"
        assert key in meta or "not judged" in meta["verdicts"]
        if key in meta:
            assert 0.0 <= meta[key] <= 1.0
    assert "demographic_parity_difference" in meta["summary"]
    assert isinstance(meta["within_limits"], bool)


@pytest.mark.slow
def test_explanations(trained, contract: DataContract) -> None:
    _, mats, _ = trained
    meta = mats["explanations"]
    assert meta["explainer"] in ("tree", "linear")
    assert meta["units"] == "log-odds"  # whichever family won
    assert meta["explained_rows"] > 0
    assert "base64" in meta["plot_beeswarm"]
    # Reasons are in contract fields (or engineered features), never encoded columns.
    assert "categorical__" not in meta["example_reasons"]
    top = meta["top_features"]
    assert any(field in top for field in contract.feature_columns)


@pytest.mark.slow
def test_model_card_numbers_equal_mlflow(trained) -> None:
    from churn_assets.lib.evaluation.model_card import PENDING, missing_sections

    home, mats, _ = trained
    meta = mats["model_card"]
    card = joblib.load(home / "storage" / "model_card.joblib")
    assert meta["missing_sections"] == []
    assert missing_sections(card) == []
    assert PENDING in card  # the decision is filled in by the gate
    assert Path(meta["path"]).is_file()
    run = _client(home).get_run(mats["champion_candidate"]["mlflow_run_id"])
    test_metrics = {k: v for k, v in run.data.metrics.items() if k.startswith("test_")}
    assert len(test_metrics) >= 12
    for name, value in test_metrics.items():
        assert f"{round(value, 4)}" in card, (name, value)
    artifacts = {a.path for a in _client(home).list_artifacts(run.info.run_id, "model_card")}
    assert "model_card/model_card.md" in artifacts
