"""Batch scoring with reasons: every customer of a month scored by the champion (probability,
label at its decision threshold, risk tier, model version) and, optionally, the top fields
behind each score (SHAP per contract field, against the champion's own training rows)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from churn_assets.lib import settings
from churn_assets.lib.monitoring.reference import SPLIT_COLUMN
from churn_assets.lib.serving.risk_tiers import risk_tiers

if TYPE_CHECKING:
    from churn_assets.lib.contract import DataContract
    from churn_assets.lib.monitoring.champion import Champion

RISK_TIERS = ("high", "medium", "low")


def format_reason(reason: dict[str, Any]) -> str:
    """``Contract=Month-to-month (+0.82)``."""
    value = reason["value"]
    if isinstance(value, float):
        value = f"{value:.4g}"
    return f"{reason['feature']}={value} ({reason['contribution']:+.2f})"


def reason_explainer(champion: Champion, reference: pd.DataFrame, contract: DataContract) -> Any:
    """A SHAP explainer of the champion whose background is the training rows of its
    reference (:mod:`~churn_assets.lib.monitoring.reference`)."""
    from churn_assets.lib.evaluation.explain import FieldExplainer

    background = reference[reference[SPLIT_COLUMN] == "train"]
    return FieldExplainer(champion.model, background[contract.feature_columns])


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


def scores_summary(scores: pd.DataFrame) -> dict[str, float | int]:
    """Rows, predicted churn rate, mean probability and customers per risk tier."""
    tiers = scores["risk_tier"].value_counts()
    return {
        "rows": len(scores),
        "predicted_churn_rate": round(float(scores["churn"].mean()), 4),
        "mean_probability": round(float(scores["churn_probability"].mean()), 4),
        **{f"tier_{tier}": int(tiers.get(tier, 0)) for tier in RISK_TIERS},
    }
