"""Data, prediction and performance drift of a scoring batch against a reference, with Evidently.

:func:`drift_report` compares a *current* batch (e.g. last month's scored customers) with a
*reference* (e.g. the training or validation rows the model was accepted on) in one Evidently
``Report``: a ``DataDriftPreset`` over the contract's feature columns (which yields one
``ValueDrift`` per column and a ``DriftedColumnsCount``) and a ``ValueDrift`` on the model's
score column. When realised labels are available it adds the ROC-AUC on both frames. The
verdict is a :class:`DriftResult`: a per-feature table, the dataset-level share of drifted
features, prediction drift, the ROC-AUC drop and which of the limits in :class:`DriftConfig`
were breached.

The statistics, thresholds and limits, and why they are effect sizes rather than p-values,
are in :mod:`churn_assets.lib.monitoring.config`; the Evidently run itself is
:mod:`~churn_assets.lib.monitoring.evidently_run` and the ROC-AUC on labelled rows
:mod:`~churn_assets.lib.monitoring.performance`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from churn_assets.lib.monitoring.config import (
    DATA_DRIFT,
    PERFORMANCE_DROP,
    PREDICTION_DRIFT,
    DriftConfig,
)
from churn_assets.lib.monitoring.evidently_run import FEATURE_TABLE_COLUMNS, FeatureKind, run_report
from churn_assets.lib.monitoring.performance import performance

if TYPE_CHECKING:
    from churn_assets.lib.contract import DataContract

__all__ = ["DriftResult", "drift_features", "drift_report"]


@dataclass
class DriftResult:
    """Outcome of :func:`drift_report`.

    Attributes:
        features: One row per compared feature: ``column``, ``kind`` (numeric/categorical),
            ``method``, ``score``, ``threshold``, ``drifted`` (Evidently's verdict).
        drifted_share: Share of compared features that drifted (Evidently's
            ``DriftedColumnsCount``).
        n_drifted: Number of drifted features.
        current_rows: Rows of the current frame (before any sampling).
        reference_rows: Rows of the reference frame (before any sampling).
        sampled: Whether either frame was subsampled to ``max_rows`` for Evidently.
        sufficient_sample: Both frames have at least ``min_rows`` rows.
        prediction_drift_score: Drift score of the score column (``None`` without one).
        prediction_drifted: Whether the score column drifted (``None`` without one).
        performance: ``current_roc_auc``, ``reference_roc_auc``, ``roc_auc_drop`` (reference
            minus current), ``current_labelled_rows`` and ``reference_labelled_rows``; ``None``
            when the current frame has no labelled, scored rows. AUCs are ``None`` when a frame
            has no labels or a single class.
        breaches: The limits breached (``data_drift``, ``prediction_drift``,
            ``performance_drop``), each with a one-line explanation.
        skipped_columns: Feature columns present in both frames but entirely null in one, which
            cannot be compared.
        config: The configuration used.
    """

    features: pd.DataFrame
    drifted_share: float
    n_drifted: int
    current_rows: int
    reference_rows: int
    sampled: bool
    sufficient_sample: bool
    prediction_drift_score: float | None = None
    prediction_drifted: bool | None = None
    performance: dict[str, float | int | None] | None = None
    breaches: dict[str, str] = field(default_factory=dict)
    skipped_columns: list[str] = field(default_factory=list)
    config: DriftConfig = field(default_factory=DriftConfig)

    @property
    def breached(self) -> bool:
        """True when any limit was breached."""
        return bool(self.breaches)

    @property
    def drifted_columns(self) -> list[str]:
        """Names of the drifted features, in contract order."""
        return self.features.loc[self.features["drifted"], "column"].tolist()

    def to_metadata(self, per_column: bool = True) -> dict[str, float]:
        """Flat numeric summary for Dagster metadata or ``mlflow.log_metrics``.

        Booleans become 0.0/1.0 and values that do not exist (no score column, no labels) are
        left out, so every value is a finite float.

        Args:
            per_column: Also include ``drift_score/<column>`` for every compared feature.
        """
        values: dict[str, Any] = {
            "drifted_share": self.drifted_share,
            "n_drifted": self.n_drifted,
            "n_features": len(self.features),
            "current_rows": self.current_rows,
            "reference_rows": self.reference_rows,
            "sufficient_sample": self.sufficient_sample,
            "breached": self.breached,
            "data_drift_breached": DATA_DRIFT in self.breaches,
            "prediction_drift_breached": PREDICTION_DRIFT in self.breaches,
            "performance_drop_breached": PERFORMANCE_DROP in self.breaches,
            "prediction_drift_score": self.prediction_drift_score,
            "prediction_drifted": self.prediction_drifted,
        }
        for key, value in (self.performance or {}).items():
            values[key] = value
        if per_column:
            for row in self.features.itertuples(index=False):
                values[f"drift_score/{row.column}"] = row.score
        out: dict[str, float] = {}
        for key, value in values.items():
            if value is None:
                continue
            number = float(value)
            if math.isfinite(number):
                out[key] = number
        return out


def drift_features(
    reference: pd.DataFrame, current: pd.DataFrame, contract: DataContract
) -> dict[str, FeatureKind]:
    """The contract features both frames carry, with the kind of comparison each gets.

    The id, snapshot time and target are never features, nor is any ``_``-prefixed
    bookkeeping column. A numeric column whose contract lists its allowed values (a code such
    as ``SeniorCitizen``) is compared as categorical.

    Returns:
        Column name to ``"numeric"`` or ``"categorical"``, in contract order.
    """
    kinds: dict[str, FeatureKind] = {}
    for column in contract.feature_columns:
        if column.startswith("_") or column not in reference or column not in current:
            continue
        info = contract.column_info(column)
        if info.kind == "numeric":
            kinds[column] = "categorical" if info.allowed_values is not None else "numeric"
        elif info.kind == "categorical":
            kinds[column] = "categorical"
    return kinds


def drift_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    contract: DataContract,
    config: DriftConfig | None = None,
    *,
    score_column: str | None = None,
    label_column: str | None = None,
    html_path: str | os.PathLike[str] | None = None,
) -> DriftResult:
    """Compare a current batch with a reference in one Evidently report and judge the drift.

    Args:
        reference: Rows the model is known to work on (training/validation data, or the first
            scored month), with the contract's feature columns.
        current: The batch to monitor, same columns.
        contract: The data contract naming the features, their types and the target labels.
        config: Statistics and limits (default :class:`DriftConfig`).
        score_column: Column holding the model's score (probability of the positive class) in
            both frames; enables prediction drift and performance.
        label_column: Column holding realised labels (the contract's target labels, or 0/1),
            used with ``score_column``; rows without one are ignored for performance. Absent
            from ``current`` or never filled: no performance block.
        html_path: Where to write Evidently's HTML report (parent folders are created).

    Returns:
        The per-feature table, prediction drift, performance and breached limits.

    Raises:
        ValueError: if the frames share no contract feature, or ``score_column`` is missing
            from either frame or entirely null in one.
    """
    config = config or DriftConfig()
    kinds = drift_features(reference, current, contract)
    if not kinds:
        raise ValueError(
            f"the frames share none of the contract's feature columns {contract.feature_columns}"
        )
    if score_column is not None:
        for name, frame in (("reference", reference), ("current", current)):
            if score_column not in frame:
                raise ValueError(f"score column {score_column!r} is not in the {name} frame")
            if frame[score_column].isna().all():
                raise ValueError(f"score column {score_column!r} is entirely null in {name}")

    # Evidently refuses a column with no values at all; such a column has no distribution to
    # compare, so it is reported as skipped rather than failing the whole report.
    skipped = [c for c in kinds if reference[c].isna().all() or current[c].isna().all()]
    kinds = {c: k for c, k in kinds.items() if c not in skipped}
    sufficient = min(len(reference), len(current)) >= config.min_rows
    columns = [*kinds, *([score_column] if score_column else [])]
    ref_sample, ref_sampled = _cap_rows(reference, columns, config)
    cur_sample, cur_sampled = _cap_rows(current, columns, config)

    result = DriftResult(
        features=pd.DataFrame(columns=FEATURE_TABLE_COLUMNS),
        drifted_share=0.0,
        n_drifted=0,
        current_rows=len(current),
        reference_rows=len(reference),
        sampled=ref_sampled or cur_sampled,
        sufficient_sample=sufficient,
        skipped_columns=skipped,
        config=config,
    )
    if kinds and len(ref_sample) and len(cur_sample):
        verdict = run_report(ref_sample, cur_sample, kinds, config, score_column, html_path)
        result.features = verdict.features
        result.n_drifted, result.drifted_share = verdict.n_drifted, verdict.drifted_share
        result.prediction_drift_score = verdict.prediction_drift_score
        result.prediction_drifted = verdict.prediction_drifted
    if score_column is not None and label_column is not None:
        result.performance = performance(reference, current, score_column, label_column, contract)
    result.breaches = _breaches(result, config)
    return result


# --------------------------------------------------------------------------- internals


def _cap_rows(
    frame: pd.DataFrame, columns: list[str], config: DriftConfig
) -> tuple[pd.DataFrame, bool]:
    """The compared columns of ``frame``, subsampled to ``config.max_rows`` rows if larger."""
    if config.max_rows is None or len(frame) <= config.max_rows:
        return frame[columns], False
    rng = np.random.default_rng(config.sample_seed)
    # Sorted positions keep the original row order (Evidently's plots follow it).
    rows = np.sort(rng.choice(len(frame), size=config.max_rows, replace=False))
    return frame.iloc[rows][columns], True


def _breaches(result: DriftResult, config: DriftConfig) -> dict[str, str]:
    """The limits ``result`` breaches, each with its explanation."""
    breaches: dict[str, str] = {}
    if not result.sufficient_sample:
        return breaches
    n_features = len(result.features)
    if n_features and result.drifted_share >= config.drifted_share_limit:
        breaches[DATA_DRIFT] = (
            f"{result.n_drifted} of {n_features} features drifted (share "
            f"{result.drifted_share:.3f} >= {config.drifted_share_limit}): "
            f"{', '.join(result.drifted_columns)}"
        )
    if result.prediction_drifted:
        breaches[PREDICTION_DRIFT] = (
            f"score drifted ({config.prediction_method} {result.prediction_drift_score:.3f}, "
            f"threshold {config.prediction_threshold})"
        )
    perf = result.performance
    if (
        perf is not None
        and perf["roc_auc_drop"] is not None
        and int(perf["current_labelled_rows"] or 0) >= config.min_rows
        and perf["roc_auc_drop"] >= config.performance_drop_limit
    ):
        breaches[PERFORMANCE_DROP] = (
            f"ROC-AUC fell by {perf['roc_auc_drop']:.3f} (reference "
            f"{perf['reference_roc_auc']:.3f}, current {perf['current_roc_auc']:.3f}; "
            f"limit {config.performance_drop_limit})"
        )
    return breaches
