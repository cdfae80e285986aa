"""The export_edge_model job on the session's served champion: the ONNX model lands on the
champion's MLflow run, scores the test rows as the registered model does, and the model card
says so; the job is not part of churn_pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pytest

from churn_assets.definitions import defs as load_defs
from churn_assets_tests.defs.test_definitions import materialized

pytestmark = pytest.mark.slow


def test_the_edge_job_is_on_its_own() -> None:
    defs = load_defs()
    job = defs.resolve_job_def("export_edge_model")
    assert [k.to_user_string() for k in job.asset_layer.selected_asset_keys] == ["edge_model"]
    pipeline = defs.resolve_job_def("churn_pipeline").asset_layer.selected_asset_keys
    assert dg.AssetKey("edge_model") not in pipeline
    graph = defs.resolve_asset_graph()
    assert graph.get(dg.AssetKey("edge_model")).group_name == "edge"


def _export(home: Path, model_name: str) -> tuple[dict, Any]:
    """Run the job on ``model_name``'s champion; its metadata and the version."""
    import mlflow
    from mlflow import MlflowClient

    from churn_assets.lib.tracking import default_tracking_uri

    job = load_defs().resolve_job_def("export_edge_model")
    result = job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        run_config={
            "ops": {"edge_model": {"config": {"latency_records": 50}}},
            "resources": {"platform": {"config": {"registered_model": model_name}}},
        },
    )
    assert result.success
    meta = materialized(result)["edge_model"]
    mlflow.set_tracking_uri(default_tracking_uri(home))
    client = MlflowClient()
    version = client.get_model_version(
        model_name, client.get_model_version_by_alias(model_name, "champion").version
    )
    return meta, version


def _card(version: Any) -> str:
    from mlflow import MlflowClient

    path = MlflowClient().download_artifacts(version.run_id, "model_card/model_card.md")
    return Path(path).read_text()


@pytest.fixture
def home(built: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Path:
    """The served-bento session's home. The export adds edge/ artifacts, a version tag and a
    card section to its champion, which no other test of that home reads."""
    monkeypatch.setenv("CHURN_HOME", str(built["home"]))
    return built["home"]


def test_a_stacked_ensemble_champion_is_a_recorded_refusal(home: Path) -> None:
    from mlflow import MlflowClient

    meta, version = _export(home, "churn-model")  # the session's champion is an ensemble
    assert meta["outcome"] == "refused" and meta["model_version"] == str(version.version)
    assert "stacked ensemble is not exported" in meta["reason"]
    card = _card(version)
    assert "## Edge deployment (ONNX)" in card and "**Not exported**" in card
    assert meta["reason"] in card
    assert version.tags["edge_onnx"] == "refused"
    assert not MlflowClient().list_artifacts(version.run_id, "edge")  # nothing in its place


def _single_family_champion(home: Path, name: str) -> str:
    """One member of the session's ensemble champion (a tree family when it has one),
    registered as ``name``@champion with the champion's card (as the gate publishes it)."""
    import mlflow
    from mlflow import MlflowClient

    from churn_assets.lib.contract import DataContract
    from churn_assets.lib.ingestion.simulator import SimulatorConfig, simulate
    from churn_assets.lib.tracking import default_tracking_uri, log_model

    mlflow.set_tracking_uri(default_tracking_uri(home))
    client = MlflowClient()
    v1 = client.get_model_version("churn-model", "1")
    members = mlflow.sklearn.load_model("models:/churn-model/1").members
    # A tree family if there is one: its trees are rebuilt in float64 (lib/export/trees.py).
    family, member = sorted(members, key=lambda m: m[0] == "logreg")[0]
    experiment = client.get_run(v1.run_id).info.experiment_id
    with mlflow.start_run(experiment_id=experiment):
        example = simulate(SimulatorConfig(n_customers=20, months=1, seed=2, dirty_rate=0))
        contract = DataContract.load()
        info = log_model(member, example.snapshots[contract.feature_columns], contract)
        mlflow.log_artifact(
            client.download_artifacts(v1.run_id, "model_card/model_card.md"), "model_card"
        )
    tags = {"family": family, "threshold": "0.4", "calibration": "none"}
    version = mlflow.register_model(info.model_uri, name, tags=tags)
    client.set_registered_model_alias(name, "champion", version.version)
    return family


def test_a_single_family_champion_is_exported_to_its_run_and_card(
    home: Path, tmp_path: Path
) -> None:
    from mlflow import MlflowClient

    from churn_assets.lib.contract import DataContract
    from churn_assets.lib.export.onnx import onnx_predict, session
    from churn_assets.lib.ingestion.simulator import SimulatorConfig, simulate
    from churn_assets.lib.monitoring.champion import load_champion

    family = _single_family_champion(home, "churn-edge")
    meta, version = _export(home, "churn-edge")
    assert meta["outcome"] == "exported" and meta["family"] == family
    assert meta["parity_max_abs_diff"] <= 1e-5 and meta["parity_rows"] > 50
    assert meta["onnx_p50_us"] > 0 and meta["scorer_p50_us"] > 0 and meta["opset"] == 21
    card = _card(version)
    assert "## Edge deployment (ONNX)" in card and "**Exported**" in card
    assert f"{meta['parity_max_abs_diff']:.2g}" in card
    assert version.tags["edge_onnx"] == "exported"
    client = MlflowClient()
    names = {a.path for a in client.list_artifacts(version.run_id, "edge")}
    assert names == {"edge/model.onnx", "edge/edge.json", "edge/README.md"}

    # The file on the run scores fresh rows as the registered model does.
    contract = DataContract.load()
    champion = load_champion("churn-edge", contract)
    onnx_path = client.download_artifacts(version.run_id, "edge/model.onnx", str(tmp_path))
    frame = simulate(SimulatorConfig(n_customers=300, months=1, seed=21, dirty_rate=0)).snapshots
    rows = frame[contract.feature_columns]
    got = onnx_predict(session(Path(onnx_path).read_bytes()), rows, contract)
    np.testing.assert_allclose(got, champion.scorer.predict_proba(rows), rtol=0, atol=1e-5)
