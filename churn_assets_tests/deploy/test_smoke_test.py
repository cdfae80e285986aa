"""deploy/smoke_test.py for real: against the churn service served the way its container runs it,
and against endpoints that are down or answer wrongly.

The served bento is the one test_service.py's ``built`` fixture trains and builds. It is served
as in the image ``bentoml containerize`` makes and with the Deployment's environment: the bento
exported (model included) and unpacked as the image's $BENTO_PATH, the server started from that
folder, the env of deploy/k8s/churn-service/deployment.yaml with each emptyDir mount a fresh
folder here. So the test also shows that the service writes nothing outside those volumes: what
readOnlyRootFilesystem requires.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import subprocess
import sys
import tarfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from churn_assets_tests.deploy.files import SERVICE_MANIFESTS, SMOKE_TEST, load_docs
from churn_assets_tests.lib.serving.test_request_model import CUSTOMER
from churn_assets_tests.served_bento import BENTOML, NAME
from churn_assets_tests.servers import free_port, server_process

# `built` (root conftest): the session's bento (train, force-promote v1, shadow v2), the one
# the service tests serve.


def _smoke(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SMOKE_TEST), *args], capture_output=True, text=True, timeout=timeout
    )


def _deployment_container() -> dict[str, Any]:
    (deployment,) = load_docs(SERVICE_MANIFESTS / "deployment.yaml")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """path -> (size, mtime) of every file under ``folder``."""
    return {
        str(path.relative_to(folder)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in folder.rglob("*")
        if path.is_file()
    }


@pytest.fixture(scope="module")
def container(built: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The bento served as its container runs it, on a free loopback port."""
    root = tmp_path_factory.mktemp("container")
    archive = root / "churn_service.bento"
    subprocess.run(
        [str(BENTOML), "export", "churn_service:latest", str(archive)],
        env={**os.environ, "BENTOML_HOME": str(built["home"] / "bentoml")},
        capture_output=True,
        check=True,
        timeout=120,
    )
    home = root / "home" / "bentoml"  # the image user's home; the bento is $HOME/bento
    bento = home / "bento"
    bento.mkdir(parents=True)
    with tarfile.open(archive) as tar:
        tar.extractall(bento, filter="data")
    # The image's ENV lines come from the bento's envs.
    image_env = {
        e["name"]: e["value"] for e in yaml.safe_load((bento / "bento.yaml").read_text())["envs"]
    }

    spec = _deployment_container()
    volumes = {m["mountPath"]: root / "volumes" / m["name"] for m in spec["volumeMounts"]}
    for folder in volumes.values():
        folder.mkdir(parents=True)

    def on_volume(value: str) -> str:
        for mount, folder in volumes.items():
            if value == mount or value.startswith(mount.rstrip("/") + "/"):
                return str(folder) + value[len(mount.rstrip("/")) :]
        return value

    env = {
        "PATH": os.environ["PATH"],
        "LANG": "C.UTF-8",
        "HOME": str(home),
        "TMPDIR": on_volume("/tmp"),
        **image_env,
        **{item["name"]: on_volume(item["value"]) for item in spec["env"]},
    }
    before = _snapshot(root / "home")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with server_process(
        [str(BENTOML), "serve", str(bento), "--host", "127.0.0.1", "--port", str(port)],
        health_url=f"{url}/readyz",
        log_path=root / "serve.log",
        what="bentoml serve (container layout)",
        timeout_s=120,
        env=env,
        cwd=bento,
    ):
        yield {"url": url, "root": root, "before": before, "volumes": volumes, "env": env}


@pytest.mark.slow
def test_the_smoke_test_passes_against_the_served_bento(container: dict) -> None:
    result = _smoke("--endpoint", container["url"] + "/", "--timeout", "60")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["ok"] is True
    assert summary["endpoint"] == container["url"]
    assert summary["model_name"] == NAME
    assert summary["model_version"] == "1"  # the champion (v2 is the shadow)
    assert 0.0 <= summary["churn_probability"] <= 1.0
    assert summary["invalid_request_status"] == 400
    assert result.stderr == ""


@pytest.mark.slow
def test_a_customer_given_in_a_file(container: dict, tmp_path: Path) -> None:
    body = tmp_path / "customer.json"
    body.write_text(json.dumps(CUSTOMER))
    result = _smoke("--endpoint", container["url"], "--timeout", "30", "--body", str(body))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["ok"] is True


@pytest.mark.slow
def test_the_probe_and_scrape_paths_of_the_manifests_answer(container: dict) -> None:
    spec = _deployment_container()
    (deployment,) = load_docs(SERVICE_MANIFESTS / "deployment.yaml")
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    paths = {
        spec[probe]["httpGet"]["path"]
        for probe in ("startupProbe", "readinessProbe", "livenessProbe")
    }
    paths.add(annotations["prometheus.io/path"])
    for path in sorted(paths):
        with urllib.request.urlopen(container["url"] + path, timeout=10) as response:
            assert response.status == 200, path
    _smoke("--endpoint", container["url"], "--timeout", "30")  # at least one prediction
    with urllib.request.urlopen(container["url"] + "/metrics", timeout=10) as response:
        assert "churn_predictions_total" in response.read().decode()


@pytest.mark.slow
def test_the_service_writes_only_to_its_volumes(container: dict) -> None:
    """The image's files (the bento, the user's home) are untouched after serving requests:
    the Deployment's readOnlyRootFilesystem holds. What it writes is on the emptyDirs."""
    assert _smoke("--endpoint", container["url"], "--timeout", "30").returncode == 0
    time.sleep(0.5)  # the prediction log is written after the answer
    assert _snapshot(container["root"] / "home") == container["before"]
    env, volumes = container["env"], container["volumes"]
    logs = list(Path(env["CHURN_PREDICTION_LOG_DIR"]).glob("*.jsonl"))
    assert logs and logs[0].stat().st_size > 0
    assert Path(env["BENTOML_HOME"], "prometheus_multiproc_dir").is_dir()
    assert all(
        str(Path(env[v])).startswith(str(volumes["/tmp"])) for v in ("BENTOML_HOME", "MPLCONFIGDIR")
    )


# ------------------------------------------------------------------------ failing deployments
def test_it_fails_clearly_when_the_endpoint_is_down() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    started = time.monotonic()
    result = _smoke("--endpoint", url, "--timeout", "2")
    assert result.returncode == 1
    assert time.monotonic() - started < 15
    assert "smoke test FAILED" in result.stderr
    assert f"{url}/readyz did not answer 200 within 2 s" in result.stderr
    assert "Connection refused" in result.stderr
    assert json.loads(result.stdout) == {
        "ok": False,
        "endpoint": url,
        "error": result.stderr.split("FAILED: ", 1)[1].strip(),
    }


def _answer(readyz: int = 200, predict: Any = None, invalid: tuple[int, str] | None = None) -> type:
    """A stand-in for a broken deployment: ready, but /predict answers what it is told."""
    example = dict(CUSTOMER)
    default = {"churn_probability": 0.3, "model_name": "churn-model", "model_version": "7"}

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep the test output clean
            pass

        def _send(self, status: int, body: Any) -> None:
            data = (body if isinstance(body, str) else json.dumps(body)).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/readyz":
                self._send(readyz, "ready" if readyz == 200 else "not ready")
            elif self.path == "/livez":
                self._send(200, "ok")
            elif self.path == "/docs.json":
                self._send(200, {"components": {"schemas": {"Customer": {"example": example}}}})
            else:
                self._send(404, "not found")

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if "smoke_test_unknown_field" in body and invalid is not None:
                self._send(*invalid)
            else:
                self._send(200, default if predict is None else predict)

    return Handler


@contextlib.contextmanager
def _serving(handler: type) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


REFUSAL = (400, '{"error": "smoke_test_unknown_field: Extra inputs are not permitted"}')


@pytest.mark.parametrize(
    ("handler", "message"),
    [
        pytest.param(_answer(readyz=503), "did not answer 200 within", id="never ready"),
        pytest.param(_answer(invalid=None), "answered HTTP 200, not 4xx", id="accepts anything"),
        pytest.param(
            _answer(invalid=(400, '{"error": "bad"}')), "does not name the field", id="vague 400"
        ),
        pytest.param(
            _answer(predict={"churn_probability": 1.7, "model_version": "7"}, invalid=REFUSAL),
            "outside [0, 1]",
            id="probability out of range",
        ),
        pytest.param(
            _answer(predict={"churn_probability": 0.2}, invalid=REFUSAL),
            "no model_version",
            id="no model version",
        ),
        pytest.param(
            _answer(predict={"churn_probability": True, "model_version": "7"}, invalid=REFUSAL),
            "no numeric churn_probability",
            id="boolean probability",
        ),
    ],
)
def test_it_fails_when_the_service_answers_wrongly(handler: type, message: str) -> None:
    with _serving(handler) as url:
        result = _smoke("--endpoint", url, "--timeout", "2")
    assert result.returncode == 1, result.stdout
    assert message in result.stderr
    assert json.loads(result.stdout)["ok"] is False


def test_the_stand_in_passes_when_it_answers_right() -> None:
    """The failures above are the answers', not the stand-in's."""
    with _serving(_answer(invalid=REFUSAL)) as url:
        result = _smoke("--endpoint", url, "--timeout", "2")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["model_version"] == "7"
