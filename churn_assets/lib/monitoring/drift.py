"""Data, prediction and performance drift of a scoring batch against a reference, with Evidently.

:func:`drift_report` compares a *current* batch (e.g. last month's scored customers) with a
*reference* (e.g. the training or validation rows the model was accepted on) in one Evidently
``Report``: a ``DataDriftPreset`` over the contract's feature columns (which yields one
``ValueDrift`` per column and a ``DriftedColumnsCount``) and a ``ValueDrift`` on the model's
score column. When realised labels are available it adds the ROC-AUC on both frames. The
verdict is a :class:`DriftResult`: a per-feature table, the dataset-level share of drifted
features, prediction drift, the ROC-AUC drop and which of the limits in :class:`DriftConfig`
were breached.

Why effect sizes and not p-values
---------------------------------
A statistical test asks "are the two samples from *exactly* the same distribution?". At
monitoring scale the answer is always no: a Kolmogorov-Smirnov test on a million rows per side
rejects at p < 0.05 once the two CDFs differ by about 0.002, so a shift of 1 % of a standard
deviation (a few cents on ``MonthlyCharges``) raises an alarm, while a chi-square test flags a
0.2 percentage-point change in a category's share. Such alarms are certain, meaningless and
quickly ignored. The question that matters is "did the distribution move *enough to matter*?",
which is an effect size with a fixed threshold, and whose value does not grow with the row
count. The defaults are therefore:

* numeric columns: Wasserstein (earth mover's) distance normed by the reference standard
  deviation (Evidently ``"wasserstein"``), drift at >= 0.1, i.e. the mass moved by a tenth of a
  standard deviation on average. The simulator's 15 % price rise scores about 0.3 on
  ``MonthlyCharges``; a 1 % shift scores 0.01.
* categorical columns: Jensen-Shannon distance (``"jensenshannon"``, natural log, in [0, 0.83]),
  drift at >= 0.1. Moving 20 % of customers to month-to-month contracts scores about 0.15. PSI
  (``"psi"``) was the alternative, but at its customary 0.2 threshold it misses that contract
  shift (PSI about 0.17). Numeric columns whose contract lists allowed values (``SeniorCitizen``
  in {0, 1}) are codes, not quantities, and are compared as categorical like the other yes/no
  columns, with the same statistic and threshold.
* the model's score: normed Wasserstein distance, drift at >= 0.1.

Evidently's own automatic choice (no method given) uses these same effect sizes above 1000
reference rows but KS, chi-square and Z tests below, so the meaning of "drifted" would change
with batch size; the methods are pinned here to keep the verdict comparable between batches.

Effect sizes also make the verdict stable under random subsampling: their sampling noise falls
like ``1 / sqrt(n)`` towards the true distance (about 0.005 at 100k rows, far below 0.1), whereas
a p-value on a sample depends on the sample size itself. :attr:`DriftConfig.max_rows` uses this
to cap the cost of the report. Conversely, noise is what makes small batches unreliable: in the
simulator the normed Wasserstein distance between two same-distribution samples of 1000 rows has
a 95th percentile near 0.09 (skewed columns such as ``TotalCharges``) and occasionally exceeds
0.1, so batches under :attr:`DriftConfig.min_rows` (2000) are reported as an insufficient
sample and never breach.

Dataset-level limit
-------------------
Because each column's threshold is an effect size set well above sampling noise, a drifted
column is already a real change; the dataset-level limit only asks for more than one before
acting. Realistic shifts touch few columns (the simulator's price rise plus contract shift
drifts two to four of the 19 Telco features, a share of 0.105 to 0.21, depending on how long
it has run), so the default limit on the share of drifted features is 0.1 (two of nineteen),
not Evidently's 0.5, which that shift would never reach.

Performance
-----------
Realised labels arrive a month after scoring, often for part of the batch only, so ROC-AUC is
computed on the rows with a label (and a score) in each frame, and a drop of at least
:attr:`DriftConfig.performance_drop_limit` against the reference breaches (when at least
``min_rows`` current rows are labelled: the ROC-AUC of 500 rows with 10 % positives has a
standard error of about 0.035).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from churn_assets.lib.contract import DataContract

__all__ = [
    "DATA_DRIFT",
    "PERFORMANCE_DROP",
    "PREDICTION_DRIFT",
    "DriftConfig",
    "DriftResult",
    "drift_features",
    "drift_report",
]

FeatureKind = Literal["numeric", "categorical"]

# Names of the limits in DriftResult.breaches.
DATA_DRIFT = "data_drift"
PREDICTION_DRIFT = "prediction_drift"
PERFORMANCE_DROP = "performance_drop"

_FEATURE_TABLE_COLUMNS = ["column", "kind", "method", "score", "threshold", "drifted"]


@dataclass(frozen=True)
class DriftConfig:
    """Statistics and limits of a drift report (module docstring: why these defaults).

    Methods are Evidently stat-test names (``"wasserstein"``, ``"jensenshannon"``, ``"psi"``,
    ``"hellinger"``, ``"ks"``, ``"chisquare"``, ...). For a distance the column drifts when its
    score is >= the threshold; for a test (``"ks"``, ``"chisquare"``, ``"z"``) the score is a
    p-value and the column drifts when it is below the threshold.

    Attributes:
        numeric_method: Stat test for numeric feature columns.
        numeric_threshold: Its threshold.
        categorical_method: Stat test for categorical feature columns (and numeric columns whose
            contract lists their allowed values).
        categorical_threshold: Its threshold.
        prediction_method: Stat test for the model's score column.
        prediction_threshold: Its threshold.
        drifted_share_limit: Share of compared feature columns that drift from which the
            dataset counts as drifted (a breach), in (0, 1].
        performance_drop_limit: ROC-AUC drop (reference minus current) from which performance
            counts as degraded (a breach).
        min_rows: Rows each frame needs (and labelled current rows for the performance limit)
            for a verdict; below it the batch is an insufficient sample and breaches nothing.
        max_rows: Cap on the rows of each frame given to Evidently; larger frames are
            subsampled without replacement (seeded, so deterministic). ``None`` compares every
            row. Effect sizes are stable under this sampling; p-values are not (a smaller
            sample gives a larger p-value for the same shift).
        sample_seed: Seed of that subsampling.
    """

    numeric_method: str = "wasserstein"
    numeric_threshold: float = 0.1
    categorical_method: str = "jensenshannon"
    categorical_threshold: float = 0.1
    prediction_method: str = "wasserstein"
    prediction_threshold: float = 0.1
    drifted_share_limit: float = 0.1
    performance_drop_limit: float = 0.05
    min_rows: int = 2000
    max_rows: int | None = 200_000
    sample_seed: int = 0

    def __post_init__(self) -> None:
        for name in ("numeric_threshold", "categorical_threshold", "prediction_threshold"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if not 0.0 < self.drifted_share_limit <= 1.0:
            raise ValueError(
                f"drifted_share_limit must be in (0, 1], got {self.drifted_share_limit}"
            )
        if not self.performance_drop_limit > 0:
            raise ValueError(
                f"performance_drop_limit must be > 0, got {self.performance_drop_limit}"
            )
        if self.min_rows < 1:
            raise ValueError(f"min_rows must be >= 1, got {self.min_rows}")
        if self.max_rows is not None and self.max_rows < self.min_rows:
            raise ValueError(
                f"max_rows ({self.max_rows}) must be None or >= min_rows ({self.min_rows})"
            )


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
        features=pd.DataFrame(columns=_FEATURE_TABLE_COLUMNS),
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
        _run_evidently(ref_sample, cur_sample, kinds, score_column, config, html_path, result)
    if score_column is not None and label_column is not None:
        result.performance = _performance(reference, current, score_column, label_column, contract)
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


def _run_evidently(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    kinds: dict[str, FeatureKind],
    score_column: str | None,
    config: DriftConfig,
    html_path: str | os.PathLike[str] | None,
    result: DriftResult,
) -> None:
    """Run the report and fill the feature table and prediction drift of ``result``."""
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

    payload = snapshot.dict()
    # A ValueDrift's value is only the score; whether the column drifted is the status of the
    # test Evidently binds to it (a p-value drifts below its threshold, a distance above).
    failed = {
        test["metric_config"]["metric_id"]: test["status"] == "FAIL"
        for test in payload["tests"]
        if test.get("metric_config")
    }
    rows = []
    for metric in payload["metrics"]:
        params = metric["config"]
        kind = params["type"].rsplit(":", 1)[-1]
        if kind == "DriftedColumnsCount":
            result.n_drifted = int(metric["value"]["count"])
            result.drifted_share = float(metric["value"]["share"])
        elif kind == "ValueDrift" and params["column"] == score_column:
            result.prediction_drift_score = float(metric["value"])
            result.prediction_drifted = failed[metric["id"]]
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
    result.features = pd.DataFrame(rows, columns=_FEATURE_TABLE_COLUMNS)


def _labels(values: pd.Series, contract: DataContract) -> pd.Series:
    """Realised labels as 0/1: the contract's target labels, or already 0/1 / boolean."""
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        return values.astype(int)
    return contract.target.encode(values).astype(int)


def _roc_auc(
    frame: pd.DataFrame, score_column: str, label_column: str, contract: DataContract
) -> tuple[float | None, int]:
    """ROC-AUC on the rows with both a label and a score, and how many rows that is."""
    from sklearn.metrics import roc_auc_score

    if label_column not in frame:
        return None, 0
    labelled = frame[[score_column, label_column]].dropna()
    if labelled.empty:
        return None, 0
    y = _labels(labelled[label_column], contract)
    if y.nunique() < 2:
        return None, len(labelled)
    return float(roc_auc_score(y, labelled[score_column])), len(labelled)


def _performance(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    score_column: str,
    label_column: str,
    contract: DataContract,
) -> dict[str, float | int | None] | None:
    """ROC-AUC of the score on each frame's labelled rows, and the drop.

    sklearn rather than Evidently's ``RocAuc``: labels arrive later than features, so the
    drift report must see every row while the AUC may only use the labelled ones, and one
    Evidently report has a single current dataset; Evidently's classification metrics fail on
    null targets ("mix of binary and continuous targets") and ``snapshot.dict()`` carries only
    the current value, not the reference one.
    """
    current_auc, current_labelled = _roc_auc(current, score_column, label_column, contract)
    if current_labelled == 0:
        return None
    reference_auc, reference_labelled = _roc_auc(reference, score_column, label_column, contract)
    drop = (
        reference_auc - current_auc
        if reference_auc is not None and current_auc is not None
        else None
    )
    return {
        "current_roc_auc": current_auc,
        "reference_roc_auc": reference_auc,
        "roc_auc_drop": drop,
        "current_labelled_rows": current_labelled,
        "reference_labelled_rows": reference_labelled,
    }


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
