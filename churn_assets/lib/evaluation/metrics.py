"""Evaluation of a model on held-out rows: metrics with bootstrap intervals, plots, segments.

Every metric comes with a percentile bootstrap 95% interval (rows resampled with
replacement, the model's scores fixed), at the model's decision threshold and at 0.5 for the
threshold-dependent ones. Plots are PNG bytes so they can go to the Dagster UI, MLflow and one
self-contained HTML report alike.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from churn_assets.lib.training.champion import CostModel, profit_curve

MetricFn = Callable[[np.ndarray, np.ndarray], float]


def _safe_auc(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else float("nan")


def _safe_ap(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(y, p)) if y.sum() > 0 else float("nan")


def _brier(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean((p - y) ** 2))


def _log_loss(y: np.ndarray, p: np.ndarray) -> float:
    q = np.clip(p, 1e-7, 1 - 1e-7)
    return float(-np.mean(y * np.log(q) + (1 - y) * np.log(1 - q)))


def _at(threshold: float, kind: str) -> MetricFn:
    def metric(y: np.ndarray, p: np.ndarray) -> float:
        pred = p >= threshold
        tp = float(np.sum(pred & (y == 1)))
        fp = float(np.sum(pred & (y == 0)))
        fn = float(np.sum(~pred & (y == 1)))
        if kind == "accuracy":
            return float(np.mean(pred == (y == 1)))
        if kind == "precision":
            return tp / (tp + fp) if tp + fp else 0.0
        if kind == "recall":
            return tp / (tp + fn) if tp + fn else 0.0
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        return 2 * precision * recall / (precision + recall) if precision + recall else 0.0

    return metric


def metric_functions(threshold: float) -> dict[str, MetricFn]:
    """Name -> function(y, p) for every reported metric."""
    functions: dict[str, MetricFn] = {
        "roc_auc": _safe_auc,
        "pr_auc": _safe_ap,
        "brier": _brier,
        "log_loss": _log_loss,
    }
    for kind in ("accuracy", "precision", "recall", "f1"):
        functions[f"{kind}@threshold"] = _at(threshold, kind)
        functions[f"{kind}@0.5"] = _at(0.5, kind)
    return functions


def bootstrap_metrics(
    y: np.ndarray,
    p: np.ndarray,
    threshold: float,
    n_boot: int = 500,
    seed: int = 0,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Each metric's value on all rows and its percentile bootstrap interval.

    Returns:
        Columns metric, value, ci_low, ci_high (one row per metric).
    """
    y = np.asarray(y).astype(int)
    p = np.asarray(p, dtype=float)
    functions = metric_functions(threshold)
    rng = np.random.default_rng(seed)
    samples = {name: np.empty(n_boot) for name in functions}
    for b in range(n_boot):
        idx = rng.integers(0, len(y), len(y))
        yb, pb = y[idx], p[idx]
        for name, fn in functions.items():
            samples[name][b] = fn(yb, pb)
    rows = []
    for name, fn in functions.items():
        values = samples[name][~np.isnan(samples[name])]
        low, high = (
            np.quantile(values, [alpha / 2, 1 - alpha / 2]) if len(values) else (np.nan, np.nan)
        )
        rows.append({"metric": name, "value": fn(y, p), "ci_low": low, "ci_high": high})
    return pd.DataFrame(rows)


def segment_metrics(
    frame: pd.DataFrame, y: np.ndarray, p: np.ndarray, threshold: float, slices: list[str]
) -> pd.DataFrame:
    """Metrics per value of each slice column (rows, churn rate, AUC, recall, precision)."""
    y = np.asarray(y).astype(int)
    p = np.asarray(p, dtype=float)
    recall, precision = _at(threshold, "recall"), _at(threshold, "precision")
    rows = []
    for column in slices:
        if column not in frame:
            continue
        values = frame[column].astype(str).to_numpy()
        for value in sorted(set(values)):
            mask = values == value
            rows.append(
                {
                    "slice": column,
                    "value": value,
                    "rows": int(mask.sum()),
                    "churn_rate": float(y[mask].mean()),
                    "roc_auc": _safe_auc(y[mask], p[mask]),
                    "recall@threshold": recall(y[mask], p[mask]),
                    "precision@threshold": precision(y[mask], p[mask]),
                }
            )
    return pd.DataFrame(rows)


@dataclass
class EvaluationPlots:
    """PNG bytes of each plot, by name."""

    pngs: dict[str, bytes] = field(default_factory=dict)


def make_plots(y: np.ndarray, p: np.ndarray, threshold: float, costs: CostModel) -> EvaluationPlots:
    """ROC, precision-recall, reliability, confusion matrix, cumulative gain/lift, profit."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import confusion_matrix, precision_recall_curve, roc_curve

    from churn_assets.lib.plots import figure_png, profit_png

    y = np.asarray(y).astype(int)
    p = np.asarray(p, dtype=float)
    pngs: dict[str, bytes] = {}

    fpr, tpr, _ = roc_curve(y, p)
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.plot(fpr, tpr, color="#4c72b0", label=f"AUC {_safe_auc(y, p):.3f}")
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    ax.legend(loc="lower right")
    pngs["roc"] = figure_png(fig)

    precision, recall, _ = precision_recall_curve(y, p)
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.plot(recall, precision, color="#dd8452", label=f"AP {_safe_ap(y, p):.3f}")
    ax.axhline(y.mean(), color="grey", linestyle="--", linewidth=1, label="base rate")
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall")
    ax.legend(loc="upper right")
    pngs["precision_recall"] = figure_png(fig)

    observed, predicted = calibration_curve(y, p, n_bins=10, strategy="quantile")
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.plot(predicted, observed, marker="o", color="#55a868", label="model")
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect")
    ax.set(xlabel="mean predicted probability", ylabel="observed churn rate", title="Reliability")
    ax.legend(loc="upper left")
    pngs["calibration"] = figure_png(fig)

    matrix = confusion_matrix(y, (p >= threshold).astype(int), labels=[0, 1])
    fig, ax = plt.subplots(figsize=(3.6, 3.2))
    ax.imshow(matrix, cmap="Blues")
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, str(count), ha="center", va="center", fontsize=12)
    ax.set(
        xticks=[0, 1],
        yticks=[0, 1],
        xticklabels=["stay", "churn"],
        yticklabels=["stay", "churn"],
        xlabel="predicted",
        ylabel="actual",
        title=f"Confusion @ {threshold:.3f}",
    )
    pngs["confusion_matrix"] = figure_png(fig)

    order = np.argsort(-p, kind="stable")
    share = np.arange(1, len(y) + 1) / len(y)
    gain = np.cumsum(y[order]) / max(y.sum(), 1)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8, 3.5))
    ax1.plot(share, gain, color="#8172b2", label="model")
    ax1.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="random")
    ax1.set(
        xlabel="share of customers contacted",
        ylabel="share of churners reached",
        title="Cumulative gain",
    )
    ax1.legend(loc="lower right")
    lift = gain / share
    ax2.plot(share, lift, color="#c44e52")
    ax2.axhline(1, color="grey", linestyle="--", linewidth=1)
    ax2.set(xlabel="share of customers contacted", ylabel="lift", title="Lift")
    fig.tight_layout()
    pngs["gain_lift"] = figure_png(fig)

    pngs["profit_vs_threshold"] = profit_png(profit_curve(y, p, costs), threshold)
    return EvaluationPlots(pngs)


def write_report(
    path: Path,
    title: str,
    summary: dict[str, str],
    metrics: pd.DataFrame,
    segments: pd.DataFrame,
    plots: EvaluationPlots,
) -> Path:
    """One self-contained HTML page: summary, metrics with intervals, plots, segments."""
    images = "".join(
        f'<figure><img alt="{html.escape(name)}" src="data:image/png;base64,'
        f'{base64.b64encode(png).decode()}"><figcaption>{html.escape(name)}</figcaption></figure>'
        for name, png in plots.pngs.items()
    )
    facts = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in summary.items()
    )
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1200px}}
table{{border-collapse:collapse;font-size:13px}}td,th{{border:1px solid #ccc;padding:2px 6px}}
figure{{display:inline-block;margin:1em;max-width:100%}}img{{max-width:100%}}</style>
</head><body><h1>{html.escape(title)}</h1><table>{facts}</table>
<h2>Metrics on the test rows (95% bootstrap intervals)</h2>
{metrics.round(4).to_html(index=False)}
<h2>Plots</h2>{images}
<h2>Segments</h2>{segments.round(4).to_html(index=False) if len(segments) else "none"}
</body></html>"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path
