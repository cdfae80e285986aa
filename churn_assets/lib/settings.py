"""Where the platform keeps its state, and the environment variables that choose it.

On a laptop everything the platform writes lives under one directory, ``CHURN_HOME`` (default
``.churn`` in the working directory): tables, reports, the MLflow store, Optuna studies, the
BentoML home, prediction logs and monitoring files. Deleting it resets the platform.

In a team deployment ``CHURN_HOME`` is scratch space private to one process (a pod's disk):
what steps hand to each other goes to the stores named by ``CHURN_STORAGE_URI`` (tables,
quarantines, exported bentos), ``MLFLOW_TRACKING_URI`` (runs, models, reports) and
``CHURN_OPTUNA_STORAGE`` (studies); docs/deployment.md has the map.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

HOME_ENV_VAR = "CHURN_HOME"
DATA_URI_ENV_VAR = "CHURN_DATA_URI"
CONTRACT_ENV_VAR = "CHURN_CONTRACT"
STORAGE_URI_ENV_VAR = "CHURN_STORAGE_URI"
# An Optuna RDB URL (postgresql+psycopg2://...) shared by every tuning step; empty: a journal
# file under CHURN_HOME (one machine only).
OPTUNA_STORAGE_ENV_VAR = "CHURN_OPTUNA_STORAGE"
# `k8s`: every step of a run is its own Kubernetes pod (dagster-k8s' k8s_job_executor);
# `in_process`: every step in the run worker's process; unset: every step is its own process on
# the run worker's machine (multiprocess executor).
EXECUTOR_ENV_VAR = "CHURN_EXECUTOR"
# Where the monitoring gauges' Prometheus textfiles go (node_exporter's textfile directory).
PROMETHEUS_DIR_ENV_VAR = "CHURN_PROMETHEUS_DIR"
DEFAULT_HOME = ".churn"
# The MLflow experiment of training and evaluation runs (monitoring has its own).
DEFAULT_EXPERIMENT = "churn-platform"
# Risk tiers: `high` from the decision threshold, `medium` from this fraction of it (the
# service and batch scoring both use it, so a customer gets the same tier from either).
MEDIUM_RISK_FRACTION = 0.5


def churn_home(home: str | os.PathLike[str] | None = None) -> Path:
    """The absolute state directory: ``home`` if given, else ``$CHURN_HOME``, else ``.churn``."""
    return Path(home or os.environ.get(HOME_ENV_VAR) or DEFAULT_HOME).expanduser().resolve()


def storage_uri(home: str | os.PathLike[str] | None = None) -> str:
    """Where asset tables go: ``$CHURN_STORAGE_URI`` (e.g. ``s3://bucket/churn``) or local."""
    return os.environ.get(STORAGE_URI_ENV_VAR) or str(churn_home(home) / "storage")


def storage_location(*parts: str, home: str | os.PathLike[str] | None = None) -> Any:
    """A path under the storage URI (a ``UPath``: local folder or ``s3://`` alike).

    What one step writes for another, or for a person on another machine, goes here rather
    than under ``CHURN_HOME``, which is private to the process (a pod's disk on Kubernetes).
    """
    from upath import UPath

    return UPath(storage_uri(home)).joinpath(*parts)


def reports_dir(home: str | os.PathLike[str] | None = None) -> Path:
    """The folder for HTML reports (created on demand)."""
    path = churn_home(home) / "reports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def bentoml_home(home: str | os.PathLike[str] | None = None) -> Path:
    """BentoML's model and bento store (``BENTOML_HOME``) for this platform home."""
    return churn_home(home) / "bentoml"


def predictions_dir(home: str | os.PathLike[str] | None = None) -> Path:
    """Where the service logs its predictions (read back by ``read_prediction_logs``)."""
    return Path(os.environ.get("CHURN_PREDICTION_LOG_DIR") or churn_home(home) / "predictions")
