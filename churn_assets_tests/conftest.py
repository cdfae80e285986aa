"""Shared fixtures: an isolated CHURN_HOME per test, the contract, and the real Telco file."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from churn_assets.lib.contract import DataContract
from churn_assets.team import postgres
from churn_assets_tests.served_bento import built  # noqa: F401 (a session fixture, shared)
from churn_assets_tests.servers import free_port, server_process

REPO_ROOT = Path(__file__).resolve().parent.parent
# The real IBM Telco data lives beside the repository and is never copied into it.
TELCO_CSV = REPO_ROOT.parent / "shared" / "data" / "telco_customer_churn.csv"


@pytest.fixture(autouse=True)
def churn_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test gets its own CHURN_HOME and default source/contract variables."""
    home = tmp_path / "churn_home"
    monkeypatch.setenv("CHURN_HOME", str(home))
    # A shell pointed at a team stack (make team-env) must not point the tests at it.
    for var in (
        "CHURN_DATA_URI",
        "CHURN_CONTRACT",
        "CHURN_STORAGE_URI",
        "CHURN_OPTUNA_STORAGE",
        "CHURN_EXECUTOR",
        "CHURN_PROMETHEUS_DIR",
        "DAGSTER_POSTGRES_URL",
        "CHURN_BUCKET",
        "AWS_ENDPOINT_URL",
    ):
        monkeypatch.delenv(var, raising=False)
    # mlflow.set_tracking_uri() exports MLFLOW_TRACKING_URI; never let it outlive a test.
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    yield home
    os.environ.pop("MLFLOW_TRACKING_URI", None)


@pytest.fixture(scope="session")
def contract() -> DataContract:
    """The built-in Telco contract."""
    return DataContract.load()


@pytest.fixture(scope="session")
def telco_csv() -> Path:
    """Path of the real Telco CSV (tests needing it skip when it is absent)."""
    if not TELCO_CSV.is_file():
        pytest.skip(f"real dataset not found at {TELCO_CSV}")
    return TELCO_CSV


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A moto S3 server in a subprocess for the whole session; yields its endpoint URL.

    Tests reset it (``POST /moto-api/reset``) before use, so they do not see each other.
    """
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    log = tmp_path_factory.mktemp("moto") / "server.log"
    with server_process(
        command, health_url=f"{endpoint}/moto-api/", log_path=log, what="moto server", timeout_s=30
    ):
        yield endpoint


@pytest.fixture(scope="session")
def pg() -> Iterator[postgres.Postgres]:
    """One real Postgres (pgserver) for the session, started in about a second.

    Its data lives outside pytest's temporary root: as root, pgserver runs Postgres as the
    ``pgserver`` user, and any pytest session starting meanwhile resets that root to 0700,
    which would lock the server out of its own data folder.
    """
    data_dir = Path(tempfile.mkdtemp(prefix="churn-pg-")) / "data"
    server = postgres.start(data_dir, keep_running=False)
    try:
        yield server
    finally:
        postgres.stop(data_dir)
        shutil.rmtree(data_dir.parent, ignore_errors=True)


@pytest.fixture
def s3_env(s3_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """Point every AWS client at the moto server, with an empty store; yields the endpoint."""
    import requests
    import s3fs

    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    # Keep the developer's ~/.aws out of it.
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    requests.post(f"{s3_server}/moto-api/reset", timeout=5).raise_for_status()
    # s3fs caches filesystem instances and their listings; the store was just emptied.
    s3fs.S3FileSystem.clear_instance_cache()
    return s3_server


# The longest test files (measured, minutes on two cores) start first, so that with
# `pytest -n 2` (what `make test` runs) the closed loop is not the last thing left running.
# xdist starts groups in this order only with --no-loadscope-reorder (the Makefile's).
LONGEST_FIRST = (
    "team/test_closed_loop.py",  # ~16
    "team/test_run_queue.py",  # ~5, then the rest of the team_stack group:
    "team/test_faults.py",  # ~13
    "team/test_step_isolation.py",  # ~15
    "console/test_demo.py",  # ~7
)
# Session fixtures that start something expensive: the tests sharing one run in one xdist
# worker (``--dist loadgroup``), so it starts once, not once per worker.
SHARED_STARTS = ("team_stack", "built")


# Before xdist's own hook (registered after this conftest, so otherwise called first) reads the
# xdist_group marks into the node ids; marks added after it are ignored.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.nodeid.split("::")[0]
        hits = [i for i, name in enumerate(LONGEST_FIRST) if path.endswith(name)]
        return hits[0] if hits else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: the order within a rank is the collection order
    for item in items:
        names = getattr(item, "fixturenames", ())
        shared = next((f for f in SHARED_STARTS if f in names), None)
        # Without a shared start, a file is one unit, so its module fixtures run once.
        item.add_marker(pytest.mark.xdist_group(shared or item.nodeid.split("::")[0]))


def pytest_xdist_node_collection_finished(node, ids: list[str]) -> None:
    """Under ``--dist loadgroup`` each node id carries its group (``...@group``), or xdist
    spreads a group's tests over the workers and every worker starts its shared fixtures:
    nothing fails, the suite just takes far longer (pytest-dev/pytest-xdist#1386)."""
    if node.config.getvalue("dist") != "loadgroup":
        return
    ungrouped = [nodeid for nodeid in ids if "@" not in nodeid]
    if ungrouped:
        pytest.exit(
            f"--dist loadgroup lost the xdist_group of {len(ungrouped)} of {len(ids)} tests "
            f"(first: {ungrouped[0]}): this pytest and pytest-xdist no longer agree on node "
            "ids; pin pytest to a version the installed pytest-xdist groups (pyproject.toml)",
            returncode=pytest.ExitCode.USAGE_ERROR,
        )
