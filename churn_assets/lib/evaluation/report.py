"""The evaluation report: a model measured once on held-out rows.

Every metric comes with a percentile bootstrap 95% interval (rows resampled with
replacement, the model's scores fixed), at the model's decision threshold and at 0.5 for the
threshold-dependent ones; metrics per contract slice beside them. The report keeps the
per-row scores, so the promotion gate runs its paired test on exactly these numbers instead
of scoring the test rows again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from churn_assets.lib import reports
from churn_assets.lib.evaluation.scores import (
    at_threshold,
    bootstrap,
    interval,
    metric_functions,
    roc_auc,
)

if TYPE_CHECKING:
    from churn_assets.lib.evaluation.policy import EvaluationPolicy
    from churn_assets.lib.training.champion import ChampionCandidate, CostModel


def bootstrap_metrics(
    y: np.ndarray,
    p: np.ndarray,
    threshold: float,
    n_boot: int,
    seed: int,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Each metric's value on all rows and its percentile bootstrap interval.

    Returns:
        Columns metric, value, ci_low, ci_high (one row per metric).
    """
    y = np.asarray(y).astype(int)
    p = np.asarray(p, dtype=float)
    functions = metric_functions(threshold)
    samples = bootstrap(
        lambda rows: [fn(y[rows], p[rows]) for fn in functions.values()], len(y), n_boot, seed
    )
    out = []
    for column, (name, fn) in enumerate(functions.items()):
        low, high = interval(samples[:, column], alpha)
        out.append({"metric": name, "value": fn(y, p), "ci_low": low, "ci_high": high})
    return pd.DataFrame(out)


def segment_metrics(
    frame: pd.DataFrame, y: np.ndarray, p: np.ndarray, threshold: float, slices: list[str]
) -> pd.DataFrame:
    """Metrics per value of each slice column (rows, churn rate, AUC, recall, precision)."""
    y = np.asarray(y).astype(int)
    p = np.asarray(p, dtype=float)
    recall, precision = at_threshold(threshold, "recall"), at_threshold(threshold, "precision")
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
                    "roc_auc": roc_auc(y[mask], p[mask]),
                    "recall@threshold": recall(y[mask], p[mask]),
                    "precision@threshold": precision(y[mask], p[mask]),
                }
            )
    return pd.DataFrame(rows)


@dataclass
class EvaluationReport:
    """What ``evaluation_report`` stores: one model's numbers on the test rows."""

    model_uri: str | None  # the MLflow model evaluated (the gate checks it is its candidate)
    mlflow_run_id: str | None
    family: str
    threshold: float
    labels: np.ndarray  # test labels, in test_set row order
    scores: np.ndarray  # the model's P(churn) for the same rows
    metrics: pd.DataFrame  # metric, value, ci_low, ci_high
    segments: pd.DataFrame  # slice, value, rows, churn_rate, roc_auc, ...

    def value(self, metric: str) -> float:
        """One metric's value on all test rows."""
        return float(self.metrics.set_index("metric").loc[metric, "value"])

    @property
    def positive_rate(self) -> float:
        """The churn rate of the test rows."""
        return float(self.labels.mean())

    def mlflow_metrics(self) -> dict[str, float]:
        """``test_<metric>`` -> value, as logged to MLflow (NaN, a one-class slice, is left
        out: it is not a metric)."""
        return {
            f"test_{row.metric.replace('@', '_at_')}": float(row.value)
            for row in self.metrics.itertuples()
            if row.value == row.value
        }


def stale_reports(model_uri: str | None, reports_by_name: dict[str, Any]) -> list[str]:
    """Names of the reports (anything with a ``model_uri``) measured on another model than
    ``model_uri``: stored reports can outlive the candidate they were made for."""
    return [name for name, r in reports_by_name.items() if r.model_uri != model_uri]


def evaluate(
    champion: ChampionCandidate,
    test_set: pd.DataFrame,
    target: str,
    slices: list[str],
    policy: EvaluationPolicy,
) -> EvaluationReport:
    """Score the champion candidate once on the test rows and measure it."""
    y = test_set[target].to_numpy().astype(int)
    p = np.asarray(champion.predict_proba(test_set), dtype=float)
    threshold = champion.threshold
    return EvaluationReport(
        model_uri=champion.mlflow_model_uri,
        mlflow_run_id=champion.mlflow_run_id,
        family=champion.family,
        threshold=threshold,
        labels=y,
        scores=p,
        metrics=bootstrap_metrics(y, p, threshold, policy.n_bootstrap, policy.seed),
        segments=segment_metrics(test_set, y, p, threshold, slices),
    )


def publish(
    report: EvaluationReport, folder: Path, summary: dict[str, Any], costs: CostModel
) -> tuple[Path, dict[str, bytes]]:
    """Plots, one self-contained HTML page and CSV tables in ``folder``, all logged to the
    candidate's MLflow run (with the metrics) when it has one.

    Returns:
        The page's path and the plots' PNG bytes by name.
    """
    from churn_assets.lib.evaluation.figures import make_plots

    pngs = make_plots(report.labels, report.scores, report.threshold, costs)
    body = (
        reports.facts(summary)
        + "\n<h2>Metrics on the test rows (95% bootstrap intervals)</h2>\n"
        + reports.table(report.metrics.round(4))
        + f"\n<h2>Plots</h2>{reports.figures(pngs)}\n<h2>Segments</h2>"
        + reports.table(report.segments.round(4))
    )
    page = reports.write_page(folder / "evaluation.html", f"Evaluation: {report.family}", body)
    for name, png in pngs.items():
        (folder / f"{name}.png").write_bytes(png)
    report.metrics.to_csv(folder / "metrics.csv", index=False)
    report.segments.to_csv(folder / "segments.csv", index=False)
    if report.mlflow_run_id:
        reports.log_metrics(report.mlflow_run_id, report.mlflow_metrics())
        reports.log_folder(report.mlflow_run_id, folder, "evaluation")
    return page, pngs
