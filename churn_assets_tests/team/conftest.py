"""One team stack for the team tests: embedded Postgres, an S3 server, the MLflow server, the
Dagster daemon and webserver, on free ports under a temporary folder, stopped at the end."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from churn_assets.team.services import free_port
from churn_assets.team.stack import Ports, TeamStack
from churn_assets_tests.lib.notify.helpers import Webhook

# Small enough that a whole churn_pipeline run takes a few minutes on two cores.
DATA_URI = "sim://?customers=3000&months=3"
FAST_TUNING = {"n_trials": 2, "timeout_s": 30, "cv_folds": 2}
# The fairness gate has its own tests; on 3,000 simulated customers its parity metrics are
# noise (a few dozen churners per group in the test split), so runs that test something else
# open its limits, as the other small-data fixtures do.
OPEN_FAIRNESS = {
    "max_equal_opportunity_difference": 1.0,
    "max_demographic_parity_difference": 1.0,
    "max_equalized_odds_difference": 1.0,
}


def small_data_ops(keys: list[str] | None = None) -> dict:
    """Run config ``ops`` for the tests' small data: fast tuning, open fairness limits (for
    ``keys`` only, when given: a run of a subset of the graph)."""
    from churn_assets.lib.training.families import FAMILIES

    ops = {f"tuned_{family}": {"config": FAST_TUNING} for family in FAMILIES}
    ops["fairness_report"] = {"config": OPEN_FAIRNESS}
    return {k: v for k, v in ops.items() if keys is None or k in keys}


def team_root(name: str) -> Path:
    """A folder for a stack outside pytest's basetemp: Postgres runs as another user there
    (pgserver under root opens the folder's ancestors to it), and any other pytest run resets
    /tmp/pytest-of-<user> to 0700, which would take the data folder away from a running
    server. Short, too: the Unix socket path must stay under 107 characters."""
    return Path(tempfile.mkdtemp(prefix=f"churn-{name}-"))


@pytest.fixture(scope="session")
def team_webhook() -> Iterator[Webhook]:
    """Where the stack's daemon sends alerts (a real local webhook receiver)."""
    server = Webhook()
    yield server
    server.close()


@pytest.fixture(scope="session")
def team_stack(team_webhook: Webhook) -> Iterator[TeamStack]:
    root = team_root("team")
    stack = TeamStack(
        root,
        Ports(s3=free_port(), mlflow=free_port(), ui=free_port()),
        data_uri=DATA_URI,
        extra_env={"CHURN_ALERT_WEBHOOK_URL": team_webhook.url, "OMP_NUM_THREADS": "1"},
    )
    try:
        stack.up()
        yield stack
    finally:
        stopped = stack.down()
        assert "postgres" in stopped, "the stack's Postgres was not running at the end"
        assert not any(stack.status().values()), stack.status()
        shutil.rmtree(stack.root, ignore_errors=True)
