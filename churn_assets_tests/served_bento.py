"""One built bento for every test of the session that serves one (training and building it
takes ~45 s), and a helper that serves it with `bentoml serve` on a free loopback port.

The `built` fixture is registered once, in the root conftest, so the service tests
(bentos/) and the container smoke test (deploy/) share one build."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from churn_assets_tests.defs.test_definitions import INGESTION, TRAINING, materialized, run
from churn_assets_tests.servers import free_port, server_process

FEATURES = ["customer_features", "train_set", "validation_set", "test_set", "feature_preprocessor"]
SIM = "sim://?customers=1500&months=2&seed=11&dirty_rate=0"
NAME = "churn-model"
BENTOML = Path(sys.executable).parent / "bentoml"


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Train, force-promote v1, register the same model again as challenger v2, build.

    The environment is set for the build only, so the session's other tests never see
    this home."""
    home = tmp_path_factory.mktemp("served")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CHURN_HOME", str(home))
        mp.setenv("CHURN_DATA_URI", SIM)
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        # The gate has its own tests; here it is forced, and the fairness limits (blocking
        # checks of the gate) opened, so the fixture does not depend on whether a tiny
        # simulated dataset meets the production floors and limits.
        gate = {"mode": "force", "reason": "service test fixture"}
        limits = {
            "max_equal_opportunity_difference": 1.0,
            "max_demographic_parity_difference": 1.0,
            "max_equalized_odds_difference": 1.0,
        }
        result = run(
            [*INGESTION, *FEATURES, *TRAINING, "churn_bento"],
            ops={"promotion_decision": {"config": gate}, "fairness_report": {"config": limits}},
        )
        assert result.success
        first = materialized(result)["churn_bento"]

        from mlflow import MlflowClient

        from churn_assets.lib.registry import aliases as registry

        v1 = MlflowClient().get_model_version(NAME, "1")
        # As if the gate had judged it and every criterion passed: only such a challenger
        # is packaged beside the champion (aliases.traffic_eligibility).
        passed = {"gate_outcome": "dry_run_pass", "gate_all_passed": "true"}
        # A new version (not v1 again: without v1's Dagster run tag, which would make this
        # the retry of v1's registration).
        tags = {k: v for k, v in v1.tags.items() if k != registry.RUN_TAG}
        registry.register_challenger(v1.source, NAME, {**tags, **passed})
        second = run(["churn_bento"])
        assert second.success
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    yield {
        "home": home,
        "first": first,
        "second": materialized(second)["churn_bento"],
        "test_set": pd.read_parquet(home / "storage" / "test_set.parquet"),
    }


@contextlib.contextmanager
def serving(
    built: dict[str, Any], logs: Path, log_path: Path, **env: str
) -> Iterator[dict[str, Any]]:
    """`bentoml serve churn_service:latest` on a free loopback port, predictions logged to
    ``logs``, ``env`` added to the environment; yields url, process and start-up seconds."""
    port = free_port()
    environ = {
        **os.environ,
        "BENTOML_HOME": str(built["home"] / "bentoml"),
        "BENTOML_DO_NOT_TRACK": "True",
        "CHURN_HOME": str(built["home"]),
        "CHURN_PREDICTION_LOG_DIR": str(logs),
        "OMP_NUM_THREADS": "1",
        **env,
    }
    url = f"http://127.0.0.1:{port}"
    command = [str(BENTOML), "serve", "churn_service:latest", "--host", "127.0.0.1"]
    started = time.perf_counter()
    with server_process(
        [*command, "--port", str(port)],
        health_url=f"{url}/readyz",
        log_path=log_path,
        what="bentoml serve",
        timeout_s=120,
        env=environ,
    ) as process:
        yield {
            "url": url,
            "process": process,
            "logs": logs,
            "log_path": log_path,
            "ready_after_s": time.perf_counter() - started,
        }


def stopped(process: subprocess.Popen) -> bool:
    return process.poll() is not None
