"""The platform's one set of metric functions and its one bootstrap.

Training (validation scores), evaluation (test metrics with intervals) and the promotion gate
(floors, the paired regression test) all measure with these. Threshold-free metrics are
undefined on rows of one class and return NaN there instead of raising, so a bootstrap
resample or a small slice never stops a report.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

MetricFn = Callable[[np.ndarray, np.ndarray], float]
# Probabilities are clipped before the log so a confident mistake costs a lot, not infinity.
LOG_LOSS_EPS = 1e-7


def roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    """ROC-AUC (NaN unless both classes are present)."""
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else float("nan")


def pr_auc(y: np.ndarray, p: np.ndarray) -> float:
    """Average precision (NaN without positives)."""
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(y, p)) if y.sum() > 0 else float("nan")


def brier(y: np.ndarray, p: np.ndarray) -> float:
    """Brier score: the mean squared difference between score and label."""
    return float(np.mean((p - y) ** 2))


def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    """Binary cross-entropy of clipped scores."""
    q = np.clip(p, LOG_LOSS_EPS, 1 - LOG_LOSS_EPS)
    return float(-np.mean(y * np.log(q) + (1 - y) * np.log(1 - q)))


SCORE_METRICS: dict[str, MetricFn] = {
    "roc_auc": roc_auc,
    "pr_auc": pr_auc,
    "brier": brier,
    "log_loss": log_loss,
}


def score_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """Threshold-free metrics of scores ``p`` against labels ``y``."""
    y = np.asarray(y).astype(int)
    p = np.asarray(p, dtype=float)
    return {name: fn(y, p) for name, fn in SCORE_METRICS.items()}


def at_threshold(threshold: float, kind: str) -> MetricFn:
    """Accuracy, precision, recall or F1 of the decision ``score >= threshold``."""

    def metric(y: np.ndarray, p: np.ndarray) -> float:
        pred = p >= threshold
        tp = float(np.sum(pred & (y == 1)))
        fp = float(np.sum(pred & (y == 0)))
        fn = float(np.sum(~pred & (y == 1)))
        if kind == "accuracy":
            return float(np.mean(pred == (y == 1)))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        if kind == "precision":
            return precision
        if kind == "recall":
            return recall
        return 2 * precision * recall / (precision + recall) if precision + recall else 0.0

    return metric


def metric_functions(threshold: float) -> dict[str, MetricFn]:
    """Name -> function(y, p) for every reported metric (thresholded ones at ``threshold``
    and at 0.5)."""
    functions = dict(SCORE_METRICS)
    for kind in ("accuracy", "precision", "recall", "f1"):
        functions[f"{kind}@threshold"] = at_threshold(threshold, kind)
        functions[f"{kind}@0.5"] = at_threshold(0.5, kind)
    return functions


def bootstrap(
    statistic: Callable[[np.ndarray], float | list[float]], n_rows: int, n_boot: int, seed: int
) -> np.ndarray:
    """``statistic(rows)`` on ``n_boot`` resamples of ``n_rows`` rows drawn with replacement.

    ``statistic`` gets the resampled row indices, so paired statistics (two models on the
    same rows) and many metrics at once share one resample. Returns an array of shape
    ``(n_boot,)`` or ``(n_boot, k)``; NaN marks a resample where a statistic is undefined.
    """
    rng = np.random.default_rng(seed)
    samples = [statistic(rng.integers(0, n_rows, n_rows)) for _ in range(n_boot)]
    return np.asarray(samples, dtype=float)


def interval(samples: np.ndarray, alpha: float = 0.05) -> tuple[float, float]:
    """The percentile ``1 - alpha`` interval of bootstrap samples (NaN ones ignored)."""
    values = samples[~np.isnan(samples)]
    if not len(values):
        return float("nan"), float("nan")
    low, high = np.quantile(values, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)
