"""The evaluation report's plots, as PNG bytes (for the Dagster UI, MLflow and the HTML page
alike): ROC, precision-recall, reliability, confusion matrix, cumulative gain/lift, profit."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from churn_assets.lib.evaluation.scores import pr_auc, roc_auc
from churn_assets.lib.training.champion import profit_curve

if TYPE_CHECKING:
    from churn_assets.lib.training.champion import CostModel


def make_plots(
    y: np.ndarray, p: np.ndarray, threshold: float, costs: CostModel
) -> dict[str, bytes]:
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
    ax.plot(fpr, tpr, color="#4c72b0", label=f"AUC {roc_auc(y, p):.3f}")
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    ax.legend(loc="lower right")
    pngs["roc"] = figure_png(fig)

    precision, recall, _ = precision_recall_curve(y, p)
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.plot(recall, precision, color="#dd8452", label=f"AP {pr_auc(y, p):.3f}")
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
    return pngs
