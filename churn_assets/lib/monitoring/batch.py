"""Monitoring glue without Dagster: the champion for batch work, the reference it is
monitored against, batch scoring with reasons, and the translation of a drift report into
the retraining trigger's terms.

Batch scoring uses the same :class:`~churn_assets.lib.serving.scorer.CompiledScorer` as the service,
compiled from the model the registry calls ``champion``, so a customer gets the same score
from the nightly table and from the API.

The drift reference belongs to the model, not to the current training table: the rows a
model version was built from are logged with it (:func:`log_reference`) and read back for
whichever version is champion (:func:`load_reference`). Otherwise a retraining the gate
rejects would silently move the reference of the old champion to newer (drifted) data, and
the drift it should still report would disappear. Only the held-out test rows carry labels
there, so the reference ROC-AUC is the champion's test ROC-AUC (what the gate measured), not
its optimistic score on its own training rows (on the simulator a random forest's training
ROC-AUC is about 0.04 higher, most of the default 0.05 drop limit).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from churn_assets.lib import settings
from churn_assets.lib.contract import DataContract
from churn_assets.lib.monitoring.trigger import BatchOutcome
from churn_assets.lib.serving.bundle import ModelSlot
from churn_assets.lib.serving.risk_tiers import risk_tiers

REFERENCE_ARTIFACT = "monitoring_reference/reference.parquet"
SPLIT_COLUMN = "_split"
LABELLED_SPLIT = "test"


@dataclass
class Champion:
    """The current champion, ready for batch work."""

    slot: ModelSlot
    model: Any  # the registered sklearn model
    scorer: Any  # its CompiledScorer

    @property
    def version(self) -> str:
        return self.slot.version


def load_champion(model_name: str, contract: DataContract) -> Champion:
    """The model behind ``@champion`` in the MLflow registry, compiled for scoring.

    Raises:
        LookupError: when no version holds the alias yet.
    """
    import mlflow

    from churn_assets.lib.registry import aliases as registry
    from churn_assets.lib.serving.scorer import CompiledScorer

    slot = registry.serving_slot(model_name, registry.CHAMPION)
    if slot is None:
        raise LookupError(
            f"registered model {model_name!r} has no @champion yet: train and promote one "
            "first (the churn_pipeline job)"
        )
    model = mlflow.sklearn.load_model(slot.model_uri)
    return Champion(slot, model, CompiledScorer.compile(model, contract, slot.family))


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


def format_reason(reason: dict[str, Any]) -> str:
    """``Contract=Month-to-month (+0.82)``."""
    value = reason["value"]
    if isinstance(value, float):
        value = f"{value:.4g}"
    return f"{reason['feature']}={value} ({reason['contribution']:+.2f})"


def score_batch(
    frame: pd.DataFrame,
    contract: DataContract,
    champion: Champion,
    medium_fraction: float = settings.MEDIUM_RISK_FRACTION,
    explainer: Any | None = None,
    top_k: int = 3,
) -> pd.DataFrame:
    """One row per customer: id, snapshot, probability, label at the threshold, risk tier,
    model version and (with an explainer) the top ``top_k`` reasons as text."""
    slot = champion.slot
    p = champion.scorer.predict_proba(frame[contract.feature_columns])
    out = pd.DataFrame({contract.id_column: frame[contract.id_column].to_numpy()})
    if contract.event_time and contract.event_time in frame:
        out[contract.event_time] = frame[contract.event_time].to_numpy()
    out["churn_probability"] = p
    out["churn"] = p >= slot.threshold
    out["risk_tier"] = risk_tiers(p, slot.threshold, slot.threshold * medium_fraction)
    out["model_version"] = slot.version
    if explainer is not None and len(frame):
        features = frame[contract.feature_columns].fillna(champion.scorer.null_fills)
        reasons = explainer.top_reasons(features.reset_index(drop=True), k=top_k)
        for i in range(top_k):
            out[f"reason_{i + 1}"] = [
                format_reason(row[i]) if i < len(row) else "" for row in reasons
            ]
    return out


def outcome_from_metadata(
    batch: str, metadata: dict[str, Any], evaluated_at: datetime
) -> BatchOutcome | None:
    """The trigger's view of one ``drift_report`` materialization (None if not a verdict)."""
    # A month too small for a verdict is neither a breach nor clean: it must not dilute the
    # trigger's window.
    if not metadata.get("sufficient_sample", 1.0):
        return None
    try:
        performance = metadata.get("performance_drop_breached")
        labelled = "roc_auc_drop" in metadata
        return BatchOutcome(
            batch=batch,
            rows=int(metadata["current_rows"]),
            data_drift=bool(metadata["data_drift_breached"]),
            prediction_drift=bool(metadata["prediction_drift_breached"]),
            performance_drop=bool(performance) if labelled else None,
            evaluated_at=evaluated_at,
            model_version=str(metadata["model_version"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


def labelled_auc(frame: pd.DataFrame, scores: np.ndarray, contract: DataContract) -> float | None:
    """ROC-AUC of ``scores`` on the rows of ``frame`` that carry a label (None if one class)."""
    from sklearn.metrics import roc_auc_score

    target = contract.target.column
    if target not in frame:
        return None
    known = frame[target].notna().to_numpy()
    if known.sum() == 0:
        return None
    y = contract.target.encode(frame.loc[known, target]).to_numpy()
    if len(np.unique(y)) < 2:
        return None
    return float(roc_auc_score(y, scores[known]))
