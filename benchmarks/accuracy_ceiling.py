"""Benchmark: how much accuracy the Telco data allows, and what a threshold chosen for accuracy
costs in leavers found (the numbers behind docs/charter.md, "Why not 90% accuracy").

A plain logistic regression (one-hot fields, standardised) scored out of fold: 5-fold
stratified CV repeated ``--repeats`` times, every customer scored by a model that never saw
it. Reported per repeat and averaged: ROC-AUC; accuracy, precision and recall at 0.5 and at
the profit threshold (``--profit-threshold``, the platform's ``CostModel()`` break-even on
Telco); the best accuracy over every threshold, chosen *with hindsight* on the rows it is
scored on (an upper bound, not a model); and the majority class's accuracy.

Prints one JSON object on one line, then a markdown table.

Usage::

    uv run python benchmarks/accuracy_ceiling.py                # ~5 s on 2 cores
    uv run python benchmarks/accuracy_ceiling.py --repeats 10
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import json
import platform
from pathlib import Path

import numpy as np
import pandas as pd

TELCO_CSV = Path(__file__).resolve().parents[2] / "shared" / "data" / "telco_customer_churn.csv"
THRESHOLDS = np.round(np.arange(0.05, 0.951, 0.005), 3)


def out_of_fold_scores(X: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    """Churn probabilities of every row from the fold model that did not train on it."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000))
    folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    return cross_val_predict(model, X, y, cv=folds, method="predict_proba")[:, 1]


def at(y: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    """Accuracy, precision and recall of offering at ``threshold``."""
    from sklearn.metrics import accuracy_score, precision_score, recall_score

    decision = scores >= threshold
    return {
        "accuracy": float(accuracy_score(y, decision)),
        "precision": float(precision_score(y, decision, zero_division=0)),
        "recall": float(recall_score(y, decision)),
    }


def measure(data: Path, repeats: int, profit_threshold: float) -> dict:
    """Every number of the table, averaged over the repeats (and each repeat's)."""
    from sklearn.metrics import accuracy_score, roc_auc_score

    frame = pd.read_csv(data)
    frame["TotalCharges"] = pd.to_numeric(frame["TotalCharges"], errors="coerce").fillna(0.0)
    y = (frame["Churn"] == "Yes").to_numpy(dtype=int)
    fields = frame.drop(columns=["customerID", "Churn"])
    X = pd.get_dummies(fields, drop_first=True).to_numpy(dtype=float)
    runs = []
    for seed in range(repeats):
        scores = out_of_fold_scores(X, y, seed)
        accuracies = [accuracy_score(y, scores >= t) for t in THRESHOLDS]
        best = int(np.argmax(accuracies))
        runs.append(
            {
                "seed": seed,
                "roc_auc": float(roc_auc_score(y, scores)),
                "at_0.5": at(y, scores, 0.5),
                "at_profit_threshold": at(y, scores, profit_threshold),
                "best_accuracy_with_hindsight": float(accuracies[best]),
                "best_accuracy_threshold": float(THRESHOLDS[best]),
            }
        )

    def mean(path: tuple[str, ...]) -> float:
        values = []
        for run in runs:
            value = run
            for key in path:
                value = value[key]
            values.append(value)
        return round(float(np.mean(values)), 4)

    return {
        "benchmark": "accuracy_ceiling",
        "data": str(data),
        "rows": len(y),
        "churn_rate": round(float(y.mean()), 4),
        "majority_class_accuracy": round(float(1 - y.mean()), 4),
        "repeats": repeats,
        "profit_threshold": profit_threshold,
        "roc_auc": mean(("roc_auc",)),
        **{
            f"{name}_{metric}": mean((name, metric))
            for name in ("at_0.5", "at_profit_threshold")
            for metric in ("accuracy", "precision", "recall")
        },
        "best_accuracy_with_hindsight": mean(("best_accuracy_with_hindsight",)),
        "best_accuracy_threshold": mean(("best_accuracy_threshold",)),
        "machine": f"{platform.node()} ({os.cpu_count()} cores)",
        "runs": runs,
    }


def table(result: dict) -> str:
    """The charter's table."""
    pct = "{:.1%}".format
    return "\n".join(
        [
            "| logistic regression, out of fold | ROC-AUC | accuracy | precision | recall |",
            "|---|---|---|---|---|",
            f"| majority class | 0.50 | {pct(result['majority_class_accuracy'])} | - | 0% |",
            f"| threshold 0.5 | {result['roc_auc']:.3f} | {pct(result['at_0.5_accuracy'])} | "
            f"{pct(result['at_0.5_precision'])} | {pct(result['at_0.5_recall'])} |",
            f"| best threshold with hindsight ({result['best_accuracy_threshold']:.2f}) | "
            f"{result['roc_auc']:.3f} | {pct(result['best_accuracy_with_hindsight'])} | | |",
            f"| profit threshold ({result['profit_threshold']}) | {result['roc_auc']:.3f} | "
            f"{pct(result['at_profit_threshold_accuracy'])} | "
            f"{pct(result['at_profit_threshold_precision'])} | "
            f"{pct(result['at_profit_threshold_recall'])} |",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=TELCO_CSV, help="the Telco CSV")
    parser.add_argument("--repeats", type=int, default=3, help="repeats of the 5-fold CV")
    parser.add_argument(
        "--profit-threshold",
        type=float,
        default=0.28,
        help="the profit threshold to report (the champion's on Telco: 0.278)",
    )
    args = parser.parse_args()
    if not args.data.is_file():
        raise SystemExit(f"{args.data} not found: pass the Telco CSV with --data")
    result = measure(args.data, args.repeats, args.profit_threshold)
    print(json.dumps(result))
    print()
    print(table(result))


if __name__ == "__main__":
    main()
