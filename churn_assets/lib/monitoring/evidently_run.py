"""One Evidently report over a reference and a current frame, read back as plain numbers.

A ``DataDriftPreset`` over the compared feature columns (one ``ValueDrift`` per column and a
``DriftedColumnsCount``) and, when a score column is given, a ``ValueDrift`` on it.
:func:`~churn_assets.lib.monitoring.drift.drift_report` chooses the columns and judges the
result; this module only speaks Evidently.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from churn_assets.lib.monitoring.config import DriftConfig

FeatureKind = Literal["numeric", "categorical"]
FEATURE_TABLE_COLUMNS = ["column", "kind", "method", "score", "threshold", "drifted"]


@dataclass
class EvidentlyVerdict:
    """What the report measured.

    Attributes:
        features: One row per compared feature (:data:`FEATURE_TABLE_COLUMNS`), in the order
            given (contract order).
        n_drifted: Drifted features (Evidently's ``DriftedColumnsCount``).
        drifted_share: Their share of the compared features.
        prediction_drift_score: The score column's drift score, None without one.
        prediction_drifted: Whether it drifted, None without a score column.
    """

    features: pd.DataFrame
    n_drifted: int
    drifted_share: float
    prediction_drift_score: float | None = None
    prediction_drifted: bool | None = None


def run_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    kinds: dict[str, FeatureKind],
    config: DriftConfig,
    score_column: str | None = None,
    html_path: str | os.PathLike[str] | None = None,
) -> EvidentlyVerdict:
    """Run the report on the ``kinds`` columns (and ``score_column``) of both frames.

    Args:
        reference: The reference rows (already capped to ``config.max_rows``).
        current: The current rows, same columns.
        kinds: Column name to how it is compared, in contract order.
        config: Methods and thresholds.
        score_column: The model's score in both frames, if prediction drift is wanted.
        html_path: Where to write Evidently's HTML report (parent folders are created).
    """
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import ValueDrift
    from evidently.presets import DataDriftPreset

    numeric = [c for c, k in kinds.items() if k == "numeric"]
    categorical = [c for c, k in kinds.items() if k == "categorical"]
    definition = DataDefinition(
        numerical_columns=numeric + ([score_column] if score_column else []),
        categorical_columns=categorical,
    )
    metrics: list[Any] = [
        # The preset (rather than bare ValueDrift metrics) renders Evidently's familiar
        # dataset-drift summary and per-column table in the HTML, and its DriftedColumnsCount
        # test applies the share limit.
        DataDriftPreset(
            columns=list(kinds),
            num_method=config.numeric_method,
            num_threshold=config.numeric_threshold,
            cat_method=config.categorical_method,
            cat_threshold=config.categorical_threshold,
            drift_share=config.drifted_share_limit,
        )
    ]
    if score_column:
        metrics.append(
            ValueDrift(
                column=score_column,
                method=config.prediction_method,
                threshold=config.prediction_threshold,
            )
        )
    snapshot = Report(metrics, include_tests=True).run(
        current_data=Dataset.from_pandas(current, data_definition=definition),
        reference_data=Dataset.from_pandas(reference, data_definition=definition),
    )
    if html_path is not None:
        path = Path(html_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        snapshot.save_html(str(path))
    return _read(snapshot.dict(), kinds, score_column)


def _read(
    payload: dict[str, Any], kinds: dict[str, FeatureKind], score_column: str | None
) -> EvidentlyVerdict:
    """The numbers of ``snapshot.dict()``."""
    # A ValueDrift's value is only the score; whether the column drifted is the status of the
    # test Evidently binds to it (a p-value drifts below its threshold, a distance above).
    failed = {
        test["metric_config"]["metric_id"]: test["status"] == "FAIL"
        for test in payload["tests"]
        if test.get("metric_config")
    }
    verdict = EvidentlyVerdict(pd.DataFrame(columns=FEATURE_TABLE_COLUMNS), 0, 0.0)
    rows = []
    for metric in payload["metrics"]:
        params = metric["config"]
        kind = params["type"].rsplit(":", 1)[-1]
        if kind == "DriftedColumnsCount":
            verdict.n_drifted = int(metric["value"]["count"])
            verdict.drifted_share = float(metric["value"]["share"])
        elif kind == "ValueDrift" and params["column"] == score_column:
            verdict.prediction_drift_score = float(metric["value"])
            verdict.prediction_drifted = failed[metric["id"]]
        elif kind == "ValueDrift":
            rows.append(
                {
                    "column": params["column"],
                    "kind": kinds[params["column"]],
                    "method": params["method"],
                    "score": float(metric["value"]),
                    "threshold": float(params["threshold"]),
                    "drifted": failed[metric["id"]],
                }
            )
    # The preset emits one ValueDrift per column in the order given, i.e. contract order.
    verdict.features = pd.DataFrame(rows, columns=FEATURE_TABLE_COLUMNS)
    return verdict
