"""The drift reference belongs to the model, not to the current training table.

The rows a model version was built from are logged with it (:func:`log_reference`) and read
back for whichever version is champion (:func:`load_reference`). Otherwise a retraining the
gate rejects would silently move the reference of the old champion to newer (drifted) data,
and the drift it should still report would disappear. Only the held-out test rows carry
labels there, so the reference ROC-AUC is the champion's test ROC-AUC (what the gate
measured), not its optimistic score on its own training rows (on the simulator a random
forest's training ROC-AUC is about 0.04 higher, most of the default 0.05 drop limit).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from churn_assets.lib.serving.bundle import ModelSlot

REFERENCE_ARTIFACT = "monitoring_reference/reference.parquet"
SPLIT_COLUMN = "_split"
LABELLED_SPLIT = "test"
FALLBACK_SOURCE = "current train_set (fallback)"


def reference_frame(
    splits: dict[str, pd.DataFrame],
    columns: list[str],
    target: str,
    max_rows: int,
    seed: int = 0,
) -> pd.DataFrame:
    """The rows a model was built from, one frame: ``columns``, the target (kept on the
    held-out ``test`` rows only, NaN elsewhere) and :data:`SPLIT_COLUMN`.

    At most ``max_rows``: the test rows are kept whole (sampled only if they alone exceed
    the cap), so the reference ROC-AUC stays the test ROC-AUC; the other splits share what
    is left, each sampled by the same fraction.
    """
    if LABELLED_SPLIT not in splits:
        raise ValueError(f"the reference needs the held-out {LABELLED_SPLIT!r} split")
    if max_rows < 1:
        raise ValueError(f"max_rows must be >= 1, got {max_rows}")
    for name, frame in splits.items():
        missing = [c for c in [*columns, target] if c not in frame]
        if missing:
            raise ValueError(f"split {name!r} lacks columns {missing}")
    n_test = min(len(splits[LABELLED_SPLIT]), max_rows)
    others = sum(len(f) for name, f in splits.items() if name != LABELLED_SPLIT)
    fraction = min(1.0, (max_rows - n_test) / others) if others else 1.0
    parts = []
    for name, frame in splits.items():
        n = n_test if name == LABELLED_SPLIT else int(len(frame) * fraction)
        part = frame[[*columns, target]]
        if n < len(part):
            part = part.sample(n=n, random_state=seed)
        part = part.assign(**{SPLIT_COLUMN: name})
        if name != LABELLED_SPLIT:
            part[target] = np.nan
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def log_reference(frame: pd.DataFrame, run_id: str) -> str:
    """Log ``frame`` as :data:`REFERENCE_ARTIFACT` of the MLflow run; its artifact URI."""
    import mlflow

    folder, name = REFERENCE_ARTIFACT.rsplit("/", 1)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        frame.to_parquet(path, index=False)
        mlflow.MlflowClient().log_artifact(run_id, str(path), artifact_path=folder)
    return f"runs:/{run_id}/{REFERENCE_ARTIFACT}"


def has_reference(run_id: str) -> bool:
    """Whether the MLflow run holds :data:`REFERENCE_ARTIFACT`."""
    import mlflow

    folder = REFERENCE_ARTIFACT.rsplit("/", 1)[0]
    listed = mlflow.MlflowClient().list_artifacts(run_id, folder)
    return any(item.path == REFERENCE_ARTIFACT for item in listed)


def load_reference(slot: ModelSlot) -> pd.DataFrame:
    """The reference logged with a model version (see :func:`log_reference`).

    Raises:
        LookupError: when the version's run has none (registered before references were
            logged, or from outside the pipeline). Other errors (an unreachable artifact
            store) propagate as they are.
    """
    import mlflow

    if not slot.mlflow_run_id:
        raise LookupError(f"model version {slot.version} has no MLflow run to read from")
    if not has_reference(slot.mlflow_run_id):
        raise LookupError(
            f"model version {slot.version} (run {slot.mlflow_run_id}) has no "
            f"{REFERENCE_ARTIFACT}: versions registered by churn_pipeline have one "
            "(drift_reference logs it before promotion_decision registers the version)"
        )
    with tempfile.TemporaryDirectory() as tmp:
        path = mlflow.artifacts.download_artifacts(
            run_id=slot.mlflow_run_id, artifact_path=REFERENCE_ARTIFACT, dst_path=tmp
        )
        return pd.read_parquet(path)


def reference_or_fallback(
    slot: ModelSlot, train_set: pd.DataFrame
) -> tuple[pd.DataFrame, str, str | None]:
    """The champion's reference rows, where they came from, and a warning when they are the
    fallback.

    A version registered before references were logged has none: its batches are then
    compared with the current ``train_set`` (labels on every row, so the reference ROC-AUC
    is the optimistic training one) rather than not monitored at all. The next version the
    gate promotes brings its own.

    Returns:
        ``(rows, source, warning)``: ``source`` is ``logged with v<version>`` or
        :data:`FALLBACK_SOURCE`; ``warning`` is None unless the fallback was used.
    """
    try:
        return load_reference(slot), f"logged with v{slot.version}", None
    except LookupError as exc:
        rows = train_set.assign(**{SPLIT_COLUMN: "train"})
        return rows, FALLBACK_SOURCE, f"{exc}; falling back to the current train_set"
