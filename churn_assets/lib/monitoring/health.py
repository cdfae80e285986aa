"""The champion re-evaluated on every landed month that carries labels: ROC-AUC per month
next to the ROC-AUC it had on its own held-out test rows."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import pandas as pd

from churn_assets.lib.monitoring.performance import labelled_roc_auc

if TYPE_CHECKING:
    from churn_assets.lib.contract import DataContract
    from churn_assets.lib.monitoring.champion import Champion


def health_table(
    champion: Champion,
    months: dict[str, pd.DataFrame],
    contract: DataContract,
    test_auc: float | None,
) -> pd.DataFrame:
    """One row per month, in month order: rows, ROC-AUC on its labelled rows (None without
    labels), the drop from ``test_auc`` and the mean score."""
    rows = []
    for month in sorted(months):
        frame = months[month]
        scores = champion.scorer.predict_proba(frame[contract.feature_columns])
        auc, _ = labelled_roc_auc(frame.get(contract.target.column), scores, contract)
        rows.append(
            {
                "month": month,
                "rows": len(frame),
                "roc_auc": auc,
                "drop_vs_test": None if auc is None or test_auc is None else test_auc - auc,
                "mean_score": float(scores.mean()) if len(scores) else None,
            }
        )
    return pd.DataFrame(rows, columns=["month", "rows", "roc_auc", "drop_vs_test", "mean_score"])


def health_summary(
    table: pd.DataFrame, test_auc: float | None, drop_limit: float
) -> dict[str, Any]:
    """The latest labelled month's ROC-AUC and drop, and whether the drop reaches the limit
    (NaN and ``none`` where nothing is known)."""
    latest = table.dropna(subset=["roc_auc"]).tail(1)
    drop = float(latest["drop_vs_test"].iloc[0]) if len(latest) and test_auc else None
    return {
        "test_roc_auc": test_auc if test_auc is not None else math.nan,
        "latest_month": str(latest["month"].iloc[0]) if len(latest) else "none",
        "latest_roc_auc": float(latest["roc_auc"].iloc[0]) if len(latest) else math.nan,
        "latest_drop": drop if drop is not None else math.nan,
        "degraded": bool(drop is not None and drop >= drop_limit),
    }
