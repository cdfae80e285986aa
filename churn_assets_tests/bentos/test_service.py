"""The real service: the `churn_bento` asset builds the bento from the registry, a real
`bentoml serve` process serves it on a free loopback port, and every endpoint is called over
HTTP (bad requests included). Parity: service == batch scoring == MLflow pyfunc."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
import requests
import yaml

from churn_assets.lib.contract import DataContract
from churn_assets.lib.privacy import pseudonym
from churn_assets.lib.serving.prediction_log import read_prediction_logs
from churn_assets.lib.serving.predictor import load_predictor
from churn_assets.lib.serving.request_model import MAX_BATCH_ROWS
from churn_assets.lib.serving.risk_tiers import risk_tier
from churn_assets_tests.lib.serving.test_request_model import BAD_REQUESTS, CUSTOMER
from churn_assets_tests.served_bento import serving

NAME = "churn-model"

pytestmark = pytest.mark.slow


def _records(frame: pd.DataFrame, contract: DataContract) -> list[dict[str, Any]]:
    """Rows as JSON request bodies (native Python types, NaN as null)."""
    columns = [contract.id_column, *contract.feature_columns]
    out = json.loads(frame[columns].to_json(orient="records"))
    return out


@pytest.fixture(scope="module")
def service(built: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """`bentoml serve churn_service:latest` on a free port, until the module is done."""
    logs = tmp_path_factory.mktemp("predictions")
    with serving(built, logs, built["home"] / "serve.log") as served:
        yield served


def _post(service: dict, path: str, body: Any) -> requests.Response:
    return requests.post(f"{service['url']}{path}", json=body, timeout=30)


def test_the_asset_builds_a_bento_per_champion_version(built: dict[str, Any]) -> None:
    first, second = built["first"], built["second"]
    assert first["bento_tag"] == "churn_service:v1"
    assert (first["champion_version"], first["shadow_version"]) == ("1", "none")
    assert second["bento_tag"] == "churn_service:v1-shadow-v2"
    assert second["model_tag"] == "churn_model:v1-shadow-v2"
    assert 0 < first["model_size_mb"] < first["bento_size_mb"] + first["model_size_mb"]
    assert "bentoml serve churn_service:v1" in first["serve"]


def test_the_bento_can_be_containerized(built: dict[str, Any]) -> None:
    """No Docker engine here: check what `bentoml containerize` builds the image from."""
    bento = built["home"] / "bentoml" / "bentos" / "churn_service" / "v1-shadow-v2"
    info = yaml.safe_load((bento / "bento.yaml").read_text())
    assert info["services"][0]["models"][0]["tag"] == "churn_model:v1-shadow-v2"
    envs = {e["name"]: e["value"] for e in info["envs"]}
    assert envs["CHURN_BENTO_MODEL"] == "churn_model:v1-shadow-v2"
    assert envs["OMP_NUM_THREADS"] == "1"
    dockerfile = (bento / "env" / "docker" / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in dockerfile
    requirements = (bento / "env" / "python" / "requirements.txt").read_text().split()
    for package in ("scikit-learn", "xgboost", "lightgbm", "shap", "pandera"):
        assert any(r.startswith(f"{package}==") for r in requirements), package
    # What the service imports, and not the build side (test_bento_sources.py checks all).
    for source in ("bentos/churn_service/service.py", "churn_assets/lib/serving/predictor.py"):
        assert (bento / "src" / source).is_file(), source
    assert not (bento / "src" / "churn_assets" / "lib" / "serving" / "packaging.py").exists()
    model = built["home"] / "bentoml" / "models" / "churn_model" / "v1-shadow-v2"
    for item in ("serving.json", "contract.yaml", "champion/model.joblib", "shadow/model.joblib"):
        assert (model / item).is_file(), item


def test_ready_and_healthy(service: dict) -> None:
    assert requests.get(f"{service['url']}/readyz", timeout=5).status_code == 200
    assert requests.get(f"{service['url']}/livez", timeout=5).status_code == 200
    assert service["ready_after_s"] < 60


def test_predict_one_customer(service: dict) -> None:
    response = _post(service, "/predict", CUSTOMER)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["customer_id"] == CUSTOMER["customerID"]
    assert body["model_name"] == NAME and body["model_version"] == "1"
    assert 0.0 <= body["churn_probability"] <= 1.0
    assert body["churn"] == (body["churn_probability"] >= body["threshold"])
    medium = body["threshold"] / 2
    expected = risk_tier(body["churn_probability"], body["threshold"], medium)
    assert body["risk_tier"] == expected
    info = _post(service, "/model_info", {}).json()
    assert info["champion"]["version"] == "1" and info["shadow"]["version"] == "2"


def test_service_equals_batch_scoring_equals_mlflow(
    service: dict, built: dict[str, Any], contract: DataContract
) -> None:
    import mlflow

    from churn_assets.lib.tracking import default_tracking_uri

    test_set = built["test_set"].head(800)
    records = _records(test_set, contract)
    response = _post(service, "/predict_batch", records)
    assert response.status_code == 200, response.text
    served = np.array([row["churn_probability"] for row in response.json()])
    assert [row["customer_id"] for row in response.json()] == test_set["customerID"].tolist()

    folder = built["home"] / "bentoml" / "models" / "churn_model" / "v1-shadow-v2"
    predictor, _ = load_predictor(folder)
    batch = predictor.champion.predict_proba(test_set[contract.feature_columns])

    mlflow.set_tracking_uri(default_tracking_uri(built["home"]))
    pyfunc = mlflow.pyfunc.load_model(f"models:/{NAME}@champion")
    reference = np.asarray(pyfunc.predict(test_set[contract.feature_columns]))[:, 1]

    np.testing.assert_allclose(served, batch, rtol=0, atol=1e-12)
    np.testing.assert_allclose(batch, reference, rtol=0, atol=1e-9)


@pytest.mark.parametrize(("body", "field", "kind"), BAD_REQUESTS)
def test_bad_requests_are_4xx_naming_the_field(
    service: dict, body: dict[str, Any], field: str, kind: str
) -> None:
    response = _post(service, "/predict", body)
    assert response.status_code == 400, response.text
    detail = response.json()["detail"]
    assert [d["loc"][-1] for d in detail] == [field]
    assert detail[0]["type"] == kind
    # The same record inside a batch is named with its position.
    batch = _post(service, "/predict_batch", [CUSTOMER, body])
    assert batch.status_code == 400
    assert batch.json()["detail"][0]["loc"][:2] == [1, field] or batch.json()["detail"][0]["loc"][
        -2:
    ] == [1, field]


def test_malformed_and_oversized_requests(service: dict) -> None:
    url = service["url"]
    broken = requests.post(
        f"{url}/predict", data=b'{"tenure": 3,', headers={"content-type": "application/json"}
    )
    assert broken.status_code == 400 and broken.json()["detail"][0]["type"] == "json_invalid"
    empty = _post(service, "/predict_batch", [])
    assert empty.status_code == 400 and empty.json()["detail"][0]["type"] == "too_short"
    too_many = _post(service, "/predict_batch", [CUSTOMER] * (MAX_BATCH_ROWS + 1))
    assert too_many.status_code == 400 and too_many.json()["detail"][0]["type"] == "too_long"
    not_a_list = _post(service, "/predict_batch", CUSTOMER)
    assert not_a_list.status_code == 400
    bad_k = _post(service, "/explain", {"customers": [CUSTOMER], "top_k": 0})
    assert bad_k.status_code == 400 and bad_k.json()["detail"][0]["loc"][-1] == "top_k"
    # None of it hurt the worker.
    assert service["process"].poll() is None
    assert _post(service, "/predict", CUSTOMER).status_code == 200


def test_explain_gives_top_reasons_per_customer(service: dict, contract: DataContract) -> None:
    deadline = time.monotonic() + 90
    while not _post(service, "/model_info", {}).json()["explainer_ready"]:
        assert time.monotonic() < deadline, "the explainer did not load"
        time.sleep(0.5)
    other = {**CUSTOMER, "customerID": "2", "Contract": "Two year", "tenure": 60}
    response = _post(service, "/explain", {"customers": [CUSTOMER, other], "top_k": 2})
    assert response.status_code == 200, response.text
    rows = response.json()
    assert [r["customer_id"] for r in rows] == ["0001-ABCD", "2"]
    for row in rows:
        contributions = [r["contribution"] for r in row["reasons"]]
        assert len(contributions) == 2 and contributions == sorted(contributions, reverse=True)
        assert all(r["feature"] for r in row["reasons"])
    single = _post(service, "/predict", CUSTOMER).json()
    assert rows[0]["churn_probability"] == pytest.approx(single["churn_probability"], abs=1e-12)
    assert "Contract" in contract.feature_columns


def test_metrics_and_prediction_log(service: dict) -> None:
    responses = [_post(service, "/predict", {**CUSTOMER, "customerID": f"m{i}"}) for i in range(5)]
    ids = {r.json()["request_id"] for r in responses}
    text = requests.get(f"{service['url']}/metrics", timeout=5).text
    assert 'churn_predictions_total{label="' in text
    assert 'churn_score_bucket{le="0.5",model_version="1"}' in text
    assert 'role="champion"' in text and 'role="shadow"' in text
    assert "churn_shadow_predictions_total" in text
    assert 'bentoml_service_request_total{endpoint="/predict"' in text
    frame = read_prediction_logs(service["logs"])
    logged = frame[frame["request_id"].isin(ids)]
    # The contract's default privacy rule: ids as keyed pseudonyms, sensitive fields left out.
    assert len(logged) == 5 and set(logged["customerID"]) == {pseudonym(f"m{i}") for i in range(5)}
    assert not {"gender", "SeniorCitizen"} & set(logged.columns)
    assert {"tenure", "Contract"} <= set(logged.columns)
    assert set(logged["shadow_version"]) == {"2"}
    # v2 is the same model registered again, so the shadow agrees exactly.
    np.testing.assert_array_equal(logged["shadow_score"], logged["score"])


def test_openapi_docs_come_from_the_contract(service: dict, contract: DataContract) -> None:
    spec = requests.get(f"{service['url']}/docs.json", timeout=5).json()
    assert {"/predict", "/predict_batch", "/explain", "/model_info"} <= set(spec["paths"])
    text = json.dumps(spec)
    for value in contract.allowed_values("Contract"):
        assert value in text
    ui = requests.get(f"{service['url']}/", timeout=5)  # BentoML's Swagger UI
    assert ui.status_code == 200 and "swagger" in ui.text.lower()
