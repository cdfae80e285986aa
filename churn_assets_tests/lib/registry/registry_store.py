"""A real MLflow registry (SQLite under a CHURN_HOME) holding tiny models, for the registry and
packaging tests: what they exercise is the registry's and BentoML's bookkeeping, not a model,
so every version is a fitted constant classifier (logged once, registered many times)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from churn_assets.lib.contract import DataContract

NAME = "churn-model"
PASSED = {"gate_outcome": "promoted", "gate_all_passed": "true", "gate_reason": "all passed"}
REJECTED = {"gate_outcome": "rejected", "gate_all_passed": "false", "gate_reason": "failed: x"}


def tracking_uri(home: Path) -> str:
    return f"sqlite:///{home / 'mlflow' / 'mlflow.db'}"


def log_tiny_model(home: Path) -> str:
    """Point MLflow at ``home``'s store and log one constant classifier; its model URI."""
    import mlflow
    from sklearn.dummy import DummyClassifier

    from churn_assets.lib.tracking import setup

    experiment = setup(tracking_uri(home), "churn-platform", home)
    frame = pd.DataFrame({"tenure": [1.0, 2.0, 3.0, 4.0]})
    model = DummyClassifier(strategy="prior").fit(frame, [0, 1, 0, 1])
    with mlflow.start_run(experiment_id=experiment):
        # No requirement inference (seconds): the model is never served from MLflow here.
        return mlflow.sklearn.log_model(model, name="model", pip_requirements=[]).model_uri


def register(uri: str, gate: dict[str, str] | None = None) -> str:
    """A new version of ``uri`` as challenger, with the tags the gate writes; its number."""
    from mlflow import MlflowClient

    from churn_assets.lib.registry import aliases

    version = aliases.register_challenger(
        uri, NAME, {"family": "logreg", "threshold": "0.5", "calibration": "none"}
    )
    for key, value in (gate or {}).items():
        MlflowClient().set_model_version_tag(NAME, version, key, value)
    return version


def champion() -> str | None:
    from churn_assets.lib.registry import aliases

    version = aliases.version_by_alias(NAME, aliases.CHAMPION)
    return str(version.version) if version is not None else None


def tags(version: str) -> dict[str, str]:
    from mlflow import MlflowClient

    return dict(MlflowClient().get_model_version(NAME, version).tags)


def background(contract: DataContract, rows: int = 5) -> pd.DataFrame:
    """Rows with every contract field (the bundle's SHAP reference and OpenAPI example)."""
    rng = np.random.default_rng(0)
    out = {contract.id_column: [f"c{i}" for i in range(rows)]}
    for column in contract.feature_columns:
        numeric = column in contract.numeric_features
        out[column] = rng.uniform(0, 10, rows).round(1) if numeric else ["x"] * rows
    return pd.DataFrame(out)


_TEMPLATE: dict[str, Path] = {}


def template(factory: Any) -> Path:
    """A store where v1 is champion (promoted, gate passed) and v2 a gate-passed challenger,
    built once per test session (a new SQLite store's migrations take ~10 s): copy it with
    :func:`copy_of`, never write to it."""
    if "home" not in _TEMPLATE:
        import mlflow

        from churn_assets.lib.registry import aliases

        home = factory.mktemp("registry-template")
        uri = log_tiny_model(home)
        register(uri, PASSED)
        aliases.promote(NAME, "1", "tester", "first", {})
        register(uri, PASSED)
        mlflow.set_tracking_uri(None)
        os.environ.pop("MLFLOW_TRACKING_URI", None)
        _TEMPLATE["home"] = home
    return _TEMPLATE["home"]


def copy_of(source: Path, target: Path) -> Path:
    """A private copy of a template home, MLflow pointed at it (artifacts stay the
    template's: the experiment records their absolute location; they are only read)."""
    import mlflow

    shutil.copytree(source, target)
    mlflow.set_tracking_uri(tracking_uri(target))
    return target
