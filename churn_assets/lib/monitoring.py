"""Monitoring glue without Dagster: the champion for batch work, batch scoring with reasons,
and the translation of a drift report into the retraining trigger's terms.

Batch scoring uses the same :class:`~churn_assets.lib.scorer.CompiledScorer` as the service,
compiled from the model the registry calls ``champion``, so a customer gets the same score
from the nightly table and from the API.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from churn_assets.lib.contract import DataContract
from churn_assets.lib.serving import ModelSlot, risk_tiers
from churn_assets.lib.trigger import BatchOutcome


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

    from churn_assets.lib import registry
    from churn_assets.lib.scorer import CompiledScorer

    slot = registry.serving_slot(model_name, registry.CHAMPION)
    if slot is None:
        raise LookupError(
            f"registered model {model_name!r} has no @champion yet: train and promote one "
            "first (the churn_pipeline job)"
        )
    model = mlflow.sklearn.load_model(slot.model_uri)
    return Champion(slot, model, CompiledScorer.compile(model, contract, slot.family))


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
    medium_fraction: float = 0.5,
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
