"""Evaluation metrics with bootstrap intervals, segments, plots, the stored report and its
HTML page (fairness verdicts: test_fairness.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

from churn_assets.lib.evaluation.figures import make_plots
from churn_assets.lib.evaluation.report import (
    EvaluationReport,
    bootstrap_metrics,
    publish,
    segment_metrics,
    stale_reports,
)
from churn_assets.lib.training.champion import CostModel


@pytest.fixture(scope="module")
def scored() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    p = rng.beta(2, 5, 3000)
    y = (rng.uniform(size=p.size) < p).astype(int)
    return y, p


def test_metrics_match_sklearn_and_intervals_cover_them(scored) -> None:
    y, p = scored
    table = bootstrap_metrics(y, p, threshold=0.3, n_boot=200, seed=0).set_index("metric")
    assert table.loc["roc_auc", "value"] == pytest.approx(roc_auc_score(y, p))
    assert table.loc["pr_auc", "value"] == pytest.approx(average_precision_score(y, p))
    assert table.loc["f1@threshold", "value"] == pytest.approx(f1_score(y, p >= 0.3))
    assert table.loc["f1@0.5", "value"] == pytest.approx(f1_score(y, p >= 0.5))
    assert table.loc["brier", "value"] == pytest.approx(np.mean((p - y) ** 2))
    assert (table["ci_low"] <= table["value"]).all()
    assert (table["value"] <= table["ci_high"]).all()
    # An AUC on 3,000 rows is known to about +-0.02: the interval must say so.
    width = table.loc["roc_auc", "ci_high"] - table.loc["roc_auc", "ci_low"]
    assert 0.01 < width < 0.06


def test_intervals_shrink_with_more_rows() -> None:
    rng = np.random.default_rng(2)
    widths = []
    for n in (500, 8000):
        p = rng.beta(2, 5, n)
        y = (rng.uniform(size=n) < p).astype(int)
        t = bootstrap_metrics(y, p, 0.3, n_boot=200, seed=0).set_index("metric")
        widths.append(t.loc["roc_auc", "ci_high"] - t.loc["roc_auc", "ci_low"])
    assert widths[1] < widths[0] / 2


def test_segments(scored) -> None:
    y, p = scored
    frame = pd.DataFrame({"Contract": np.where(np.arange(len(y)) % 3 == 0, "Two year", "M2M")})
    table = segment_metrics(frame, y, p, 0.3, ["Contract", "not_a_column"])
    assert set(table["value"]) == {"Two year", "M2M"}
    assert table["rows"].sum() == len(y)
    two_year = table.set_index("value").loc["Two year"]
    mask = frame["Contract"].to_numpy() == "Two year"
    assert two_year["roc_auc"] == pytest.approx(roc_auc_score(y[mask], p[mask]))


def _report(y: np.ndarray, p: np.ndarray, segments: pd.DataFrame) -> EvaluationReport:
    metrics = bootstrap_metrics(y, p, 0.3, n_boot=50, seed=0)
    return EvaluationReport("models:/m/1", None, "logreg", 0.3, y, p, metrics, segments)


def test_plots_and_report(scored, tmp_path: Path) -> None:
    y, p = scored
    pngs = make_plots(y, p, 0.3, CostModel())
    assert set(pngs) == {
        "roc",
        "precision_recall",
        "calibration",
        "confusion_matrix",
        "gain_lift",
        "profit_vs_threshold",
    }
    assert all(png.startswith(b"\x89PNG") for png in pngs.values())
    report = _report(y, p, pd.DataFrame())
    page, published = publish(report, tmp_path, {"family": "x"}, CostModel())
    assert set(published) == set(pngs)
    text = page.read_text()
    assert text.count("data:image/png;base64,") == 6
    assert "roc_auc" in text and "ci_low" in text and "<h1>Evaluation: logreg</h1>" in text
    assert {"metrics.csv", "segments.csv", "roc.png"} <= {f.name for f in tmp_path.iterdir()}


def test_report_values_and_mlflow_names(scored) -> None:
    y, p = scored
    report = _report(y, p, pd.DataFrame())
    assert report.value("roc_auc") == pytest.approx(roc_auc_score(y, p))
    assert report.positive_rate == pytest.approx(y.mean())
    logged = report.mlflow_metrics()
    assert logged["test_f1_at_threshold"] == pytest.approx(f1_score(y, p >= 0.3))
    assert len(logged) == 12
    # A metric undefined on these rows (one class) is not logged.
    one_class = _report(np.zeros(50, dtype=int), p[:50], pd.DataFrame())
    assert "test_roc_auc" not in one_class.mlflow_metrics()


def test_stale_reports_are_named(scored) -> None:
    y, p = scored
    report = _report(y, p, pd.DataFrame())
    assert stale_reports("models:/m/1", {"evaluation_report": report}) == []
    assert stale_reports("models:/m/2", {"evaluation_report": report}) == ["evaluation_report"]
