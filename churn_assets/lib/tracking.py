"""MLflow tracking: where runs go, nested trial runs from Optuna, and model logging.

The tracking URI defaults to a SQLite database under ``CHURN_HOME/mlflow`` (MLflow 3 refuses
``file:`` stores), with artifacts beside it; an ``http(s)://`` URI of an ``mlflow server``
works unchanged. Trials are logged with ``MlflowClient`` as child runs of the family's parent
run (tag ``mlflow.parentRunId``), which works from Optuna callbacks without relying on
MLflow's thread-local active-run stack.

The runs of a search (best-effort trial logging, runs a killed process left) are in
``lib/training/trial_runs.py``.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.metadata
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from churn_assets.lib.contract import DataContract

# Requirements written into logged models, pinned to what is installed, with each model
# family's own (its spec's ``requirements``). Listing them is much faster than MLflow's
# inference, which loads the model in a subprocess.
_MODEL_REQUIREMENTS = ("scikit-learn", "pandas", "numpy", "scipy", "cloudpickle")

log = logging.getLogger(__name__)


def default_tracking_uri(home: Path) -> str:
    """SQLite under ``home/mlflow``.

    ``MLFLOW_TRACKING_URI`` is deliberately not read here: the resource wires it in when the
    definitions load, and ``mlflow.set_tracking_uri`` writes that variable into the process
    environment, so reading it back would let one CHURN_HOME's store leak into another's.
    """
    folder = home / "mlflow"
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'mlflow.db'}"


@contextlib.contextmanager
def _init_lock(home: Path) -> Iterator[None]:
    # Two tuning steps start in parallel; the first to open a new SQLite store runs MLflow's
    # schema migrations, and two at once corrupt it. A file lock serializes the first touch.
    folder = home / "mlflow"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".init.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def setup(tracking_uri: str, experiment: str, home: Path) -> str:
    """Point MLflow at the store and return the experiment id (created if missing).

    A local store is initialised under a file lock in ``home`` (parallel steps would race on
    the SQLite schema). A tracking server needs nothing on this machine's disk: two steps
    creating the experiment at once is settled by the server (the loser reads the winner's).
    """
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    if tracking_uri.startswith(_REMOTE):
        return _get_or_create(experiment, None)
    with _init_lock(home):
        location = (home / "mlflow" / "artifacts").resolve().as_uri()
        return _get_or_create(experiment, location)


_REMOTE = ("http://", "https://", "databricks")


def _get_or_create(experiment: str, location: str | None) -> str:
    import mlflow
    from mlflow.exceptions import MlflowException

    found = mlflow.get_experiment_by_name(experiment)
    if found is not None:
        return found.experiment_id
    try:
        return mlflow.create_experiment(experiment, artifact_location=location)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
        return mlflow.get_experiment_by_name(experiment).experiment_id


def run_url(tracking_uri: str, experiment_id: str, run_id: str) -> str:
    """A link to a run in the MLflow UI (or how to open it for a local store)."""
    if tracking_uri.startswith(("http://", "https://")):
        return f"{tracking_uri.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"
    return (
        f"mlflow ui --backend-store-uri {tracking_uri}  →  experiment {experiment_id}, run {run_id}"
    )


def model_requirements() -> list[str]:
    """Pinned pip requirements of the installed model libraries, every registered family's
    included."""
    from churn_assets.lib.training.families import requirements

    pins = []
    for name in [*_MODEL_REQUIREMENTS, *requirements()]:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            pins.append(f"{name}=={importlib.metadata.version(name)}")
    return pins


def contract_signature(contract: DataContract, columns: list[str]) -> Any:
    """The MLflow model signature of a model taking ``columns``, derived from the contract.

    Strings for categorical fields, ``long`` for non-nullable integers, ``double`` for the
    rest (a nullable integer must accept NaN); nullable fields are optional. The output is
    the (n, 2) array of class probabilities.
    """
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema, TensorSpec

    specs = []
    for name in columns:
        info = contract.column_info(name)
        if info.kind == "categorical":
            kind = "string"
        elif info.dtype.startswith(("int", "uint")) and not info.nullable:
            kind = "long"
        else:
            kind = "double"
        specs.append(ColSpec(kind, name, required=not info.nullable))
    outputs = Schema([TensorSpec(np.dtype("float64"), (-1, 2), "probabilities")])
    return ModelSignature(inputs=Schema(specs), outputs=outputs)


def log_model(
    model: Any, input_example: pd.DataFrame, contract: DataContract, name: str = "model"
) -> Any:
    """Log a fitted model that takes contract fields, with signature and input example.

    The package's own code (the feature builder the pipeline pickles) travels with the model
    through ``code_paths``, so the model loads where ``churn_assets`` is not installed.
    """
    import mlflow

    import churn_assets

    columns = list(input_example.columns)
    signature = contract_signature(contract, columns)
    example = input_example.head(5).copy()
    for spec in signature.inputs.inputs:
        if spec.type.name == "double":
            example[spec.name] = example[spec.name].astype("float64")
    return mlflow.sklearn.log_model(
        model,
        name=name,
        signature=signature,
        input_example=example,
        serialization_format="cloudpickle",
        pyfunc_predict_fn="predict_proba",
        pip_requirements=model_requirements(),
        code_paths=[str(Path(churn_assets.__file__).parent)],
    )


def log_dataset(frame: pd.DataFrame, name: str, target: str, context: str) -> None:
    """Record a table as an MLflow dataset input of the active run."""
    import warnings

    import mlflow

    with warnings.catch_warnings():
        # The dataset's own schema is only descriptive (the model signature comes from the
        # contract), so MLflow's hint about integer columns and missing values is noise here.
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
        # (The schema is inferred lazily, when the input is logged.)
        dataset = mlflow.data.from_pandas(frame, name=name, targets=target)
        mlflow.log_input(dataset, context=context)
