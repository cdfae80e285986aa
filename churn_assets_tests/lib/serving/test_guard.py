"""The guard in front of the service, on a Starlette app (what BentoML serves): auth, the
body limit (declared and streamed), media types, the 500-to-400 rewrite for non-JSON bodies,
its settings, and the log filter that keeps rejected values out of the server log. The
served service is checked end to end in churn_assets_tests/bentos/test_service_faults.py."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from churn_assets.lib.serving.guard import (
    DEFAULT_MAX_BODY,
    Guard,
    GuardError,
    QuietClientErrors,
    load_keys,
)


async def _echo(request: Request) -> JSONResponse:
    return JSONResponse({"bytes": len(await request.body())})


async def _fails(request: Request) -> JSONResponse:
    """BentoML's answer to a body its list-typed routes cannot parse: a bare 500."""
    await request.body()
    return JSONResponse({"error": "An unexpected error has occurred"}, status_code=500)


def _client(**env: str) -> TestClient:
    async def ok(_: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    routes = [
        Route("/predict", _echo, methods=["POST"]),
        Route("/fails", _fails, methods=["POST"]),
        Route("/readyz", ok),
        Route("/metrics", ok),
    ]
    app = Starlette(routes=routes)
    app.add_middleware(Guard, environ=env)
    return TestClient(app)


def test_no_keys_no_auth() -> None:
    client = _client()
    assert client.post("/predict", content=b'{"a": 1}').json() == {"bytes": 8}
    assert client.get("/metrics").status_code == 200


def test_keys_from_env_and_file_bearer_or_x_api_key(tmp_path: Path) -> None:
    secret = tmp_path / "keys"
    secret.write_text("# rotated 2026-12\nkey-two\n\n")
    client = _client(
        CHURN_SERVICE_API_KEYS="key-one, key-three", CHURN_SERVICE_API_KEYS_FILE=str(secret)
    )
    denied = client.post("/predict", json={})
    assert denied.status_code == 401 and denied.headers["www-authenticate"] == "Bearer"
    assert "Authorization: Bearer <key>" in denied.json()["detail"]
    assert client.post("/predict", json={}, headers={"X-API-Key": "wrong"}).status_code == 401
    for headers in (
        {"Authorization": "Bearer key-one"},
        {"authorization": "bearer key-three"},
        {"X-API-Key": "key-two"},
    ):
        assert client.post("/predict", json={}, headers=headers).status_code == 200, headers
    assert client.get("/readyz").status_code == 200  # health stays open
    assert client.get("/metrics").status_code == 401  # protected unless opened
    opened = _client(CHURN_SERVICE_API_KEYS="k", CHURN_SERVICE_METRICS_OPEN="1")
    assert opened.get("/metrics").status_code == 200
    assert opened.post("/predict", json={}).status_code == 401


def test_bad_settings_say_what_to_fix(tmp_path: Path) -> None:
    with pytest.raises(GuardError, match=r"CHURN_SERVICE_API_KEYS_FILE=.*cannot be read"):
        load_keys({"CHURN_SERVICE_API_KEYS_FILE": str(tmp_path / "missing")})
    (tmp_path / "empty").write_text("# nothing yet\n")
    with pytest.raises(GuardError, match="holds no key"):
        load_keys({"CHURN_SERVICE_API_KEYS_FILE": str(tmp_path / "empty")})
    for name in ("CHURN_SERVICE_MAX_BODY_BYTES", "CHURN_SERVICE_MAX_IN_FLIGHT"):
        with pytest.raises(GuardError, match=f"{name}='lots' must be a positive integer"):
            Guard(_echo, environ={name: "lots"})  # type: ignore[arg-type]


def test_body_limit_declared_or_streamed_is_413_naming_the_setting() -> None:
    client = _client(CHURN_SERVICE_MAX_BODY_BYTES="1000")
    assert client.post("/predict", content=b"x" * 1000).json() == {"bytes": 1000}
    declared = client.post("/predict", content=b"x" * 1001)
    assert declared.status_code == 413
    assert "CHURN_SERVICE_MAX_BODY_BYTES" in declared.json()["detail"]

    def chunks():  # no Content-Length: chunked transfer encoding
        for _ in range(50):
            yield b"y" * 100

    streamed = client.post("/predict", content=chunks())
    assert streamed.status_code == 413 and "1,000 bytes" in streamed.json()["detail"]
    assert Guard(_echo, environ={}).max_body == DEFAULT_MAX_BODY  # type: ignore[arg-type]


def test_forms_are_415_and_non_json_500s_become_400() -> None:
    client = _client()
    form = client.post("/predict", content=b"x", headers={"content-type": "multipart/form-data"})
    assert form.status_code == 415 and "application/json" in form.json()["detail"]
    for body in (b'{"tenure": 3,', b"\x00", b"\xff\xfe"):
        bad = client.post("/fails", content=body, headers={"content-type": "application/json"})
        assert bad.status_code == 400, body
        assert bad.json()["detail"][0]["type"] == "json_invalid"
    # A 500 for a body that is JSON stays a 500: it is a server fault, not the client's.
    assert client.post("/fails", json=[{"a": 1}]).status_code == 500


class _Customer(BaseModel):
    customerID: str
    tenure: int


def test_rejected_values_stay_out_of_the_server_log(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test_guard.bentoml")
    logger.addFilter(QuietClientErrors())
    try:
        _Customer.model_validate({"customerID": "7590-SECRET", "tenure": "twelve"})
    except ValidationError:
        with caplog.at_level(logging.INFO, logger=logger.name):
            logger.error("Exception on %s [%s]", "/predict", "POST", exc_info=True)
    (record,) = caplog.records
    assert record.levelno == logging.INFO and record.exc_info is None
    text = caplog.text
    assert "400 on /predict: 1 validation error(s) for _Customer: tenure (int_parsing)" in text
    assert "SECRET" not in text and "twelve" not in text and "Traceback" not in text
    # A server fault keeps its traceback.
    caplog.clear()
    try:
        raise RuntimeError("model file unreadable")
    except RuntimeError:
        with caplog.at_level(logging.INFO, logger=logger.name):
            logger.error("Exception on %s [%s]", "/predict", "POST", exc_info=True)
    assert caplog.records[0].levelno == logging.ERROR and "Traceback" in caplog.text
