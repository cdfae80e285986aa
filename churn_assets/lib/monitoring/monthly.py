"""A landed month judged against the champion: both sides scored by the champion, the drift
report, the three checks it answers, and where its verdict goes (MLflow, the Prometheus
gauges it exports, the alert on a breach).

Both sides are scored here with the champion's compiled scorer (milliseconds per thousand
rows) rather than read from the month's batch scores, so they come from the same model even
when those scores predate a promotion or a rollback.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from churn_assets.lib.monitoring.config import (
    DATA_DRIFT,
    MONTH_CHECKS,
    PERFORMANCE_DROP,
    PREDICTION_DRIFT,
    DriftConfig,
)
from churn_assets.lib.monitoring.drift import DriftResult, drift_report

if TYPE_CHECKING:
    from churn_assets.lib.contract import DataContract
    from churn_assets.lib.monitoring.champion import Champion

SCORE, LABEL = "_score", "_label"


@dataclass(frozen=True)
class CheckVerdict:
    """One check's answer for the month: passed, and the value against its threshold."""

    name: str
    passed: bool
    metadata: dict[str, Any]


def judge_month(
    champion: Champion,
    reference_rows: pd.DataFrame,
    month: pd.DataFrame,
    contract: DataContract,
    target: str,
    config: DriftConfig,
    html_path: str | os.PathLike[str] | None = None,
) -> DriftResult:
    """The month against the champion's reference rows.

    Args:
        champion: Scores both sides.
        reference_rows: The champion's reference (:mod:`~churn_assets.lib.monitoring.reference`):
            contract features and ``target``, labelled on the held-out rows only.
        month: The landed month's valid rows; its contract target column, when present,
            holds the realised labels.
        contract: The data contract.
        target: The reference's 0/1 label column.
        config: Statistics and limits.
        html_path: Where Evidently's HTML goes.
    """
    features = contract.feature_columns
    reference = reference_rows[features].copy()
    reference[SCORE] = champion.scorer.predict_proba(reference)
    reference[LABEL] = reference_rows[target].to_numpy()  # held-out rows only (NaN elsewhere)
    current = month[features].copy()
    current[SCORE] = champion.scorer.predict_proba(current)
    labelled = contract.target.column in month
    if labelled:  # the contract's labels; the report encodes them
        current[LABEL] = month[contract.target.column].to_numpy()
    return drift_report(
        reference,
        current,
        contract,
        config,
        score_column=SCORE,
        label_column=LABEL if labelled else None,
        html_path=html_path,
    )


def check_verdicts(result: DriftResult) -> list[CheckVerdict]:
    """The month's answer to each of :data:`MONTH_CHECKS`."""
    config, performance = result.config, result.performance or {}
    values = {
        DATA_DRIFT: {"value": result.drifted_share, "threshold": config.drifted_share_limit},
        PREDICTION_DRIFT: {
            "value": result.prediction_drift_score or 0.0,
            "threshold": config.prediction_threshold,
        },
        PERFORMANCE_DROP: {
            "value": performance.get("roc_auc_drop", 0.0),
            "threshold": config.performance_drop_limit,
            "labelled": bool(performance),
        },
    }
    return [
        CheckVerdict(name, limit not in result.breaches, values[limit])
        for name, (limit, _) in MONTH_CHECKS.items()
    ]


def gauges(result: DriftResult) -> dict[str, float | None]:
    """The numbers :func:`~churn_assets.lib.monitoring.prometheus.drift_samples` exports."""
    performance = result.performance or {}
    return {
        "drifted_share": result.drifted_share,
        "n_drifted": result.n_drifted,
        "prediction_drift_score": result.prediction_drift_score,
        "current_rows": result.current_rows,
        "roc_auc_current": performance.get("current_roc_auc"),
        "roc_auc_drop": performance.get("roc_auc_drop"),
        "breached": result.breached,
    }


def log_month(
    result: DriftResult, numbers: dict[str, Any], html_path: str | os.PathLike[str]
) -> None:
    """Log the month to the active MLflow run: its float ``numbers`` as metrics, the
    per-feature table and the HTML report."""
    import mlflow

    mlflow.log_metrics({k: v for k, v in numbers.items() if isinstance(v, float)})
    mlflow.log_table(result.features, "drift_features.json")
    mlflow.log_artifact(str(html_path))


def export_gauges(
    month: str, result: DriftResult, model_version: str, home: str | os.PathLike[str]
) -> Path:
    """Write the month's Prometheus textfile (under ``home``'s monitoring folder); its path."""
    from churn_assets.lib.monitoring import prometheus

    return prometheus.write_textfile(
        prometheus.default_textfile_path(f"churn_drift_{month}.prom", home),
        prometheus.drift_samples(month, gauges(result), model_version),
    )


def breach_alert(month: str, result: DriftResult, model_version: str) -> dict[str, Any] | None:
    """The keyword arguments of the month's drift-breach alert (kind, severity, title, text,
    fields), or None when nothing breached."""
    if not result.breached:
        return None
    return {
        "kind": "drift_breach",
        "severity": "warning",
        "title": f"Drift breach in {month}",
        "text": "; ".join(result.breaches.values()),
        "fields": {
            "batch": month,
            "model_version": model_version,
            "drifted": ", ".join(result.drifted_columns),
        },
    }
