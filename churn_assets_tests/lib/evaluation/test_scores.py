"""The one set of metric functions (equal to sklearn's) and the one bootstrap."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics as sk

from churn_assets.lib.evaluation.scores import (
    at_threshold,
    bootstrap,
    interval,
    metric_functions,
    score_metrics,
)


@pytest.fixture(scope="module")
def scored() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    p = rng.beta(2, 5, 1000)
    y = (rng.uniform(size=p.size) < p).astype(int)
    return y, p


def test_score_metrics_equal_sklearn(scored) -> None:
    y, p = scored
    p = p.copy()
    p[:3] = [0.0, 1.0, 1.0]  # the log loss clips instead of returning infinity
    got = score_metrics(y, p)
    assert got["roc_auc"] == pytest.approx(sk.roc_auc_score(y, p), abs=1e-12)
    assert got["pr_auc"] == pytest.approx(sk.average_precision_score(y, p), abs=1e-12)
    assert got["brier"] == pytest.approx(sk.brier_score_loss(y, p), abs=1e-12)
    clipped = np.clip(p, 1e-7, 1 - 1e-7)
    assert got["log_loss"] == pytest.approx(sk.log_loss(y, clipped, labels=[0, 1]), abs=1e-12)


@pytest.mark.parametrize(
    ("kind", "reference"),
    [
        ("accuracy", sk.accuracy_score),
        ("precision", sk.precision_score),
        ("recall", sk.recall_score),
        ("f1", sk.f1_score),
    ],
)
def test_thresholded_metrics_equal_sklearn(scored, kind: str, reference) -> None:
    y, p = scored
    for threshold in (0.2, 0.5):
        assert at_threshold(threshold, kind)(y, p) == pytest.approx(reference(y, p >= threshold))
    assert set(metric_functions(0.3)) >= {f"{kind}@threshold", f"{kind}@0.5"}


def test_one_class_is_nan_not_an_error() -> None:
    y = np.zeros(10, dtype=int)
    p = np.linspace(0, 1, 10)
    got = score_metrics(y, p)
    assert math.isnan(got["roc_auc"]) and math.isnan(got["pr_auc"])
    assert got["brier"] == pytest.approx(np.mean(p**2))


def test_bootstrap_is_seeded_and_resamples_rows(scored) -> None:
    y, p = scored
    first = bootstrap(lambda rows: float(y[rows].mean()), len(y), 50, seed=3)
    again = bootstrap(lambda rows: float(y[rows].mean()), len(y), 50, seed=3)
    other = bootstrap(lambda rows: float(y[rows].mean()), len(y), 50, seed=4)
    assert first.shape == (50,)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    # Several statistics share one resample: a paired difference is exactly the difference.
    both = bootstrap(lambda rows: [y[rows].mean(), p[rows].mean()], len(y), 50, seed=3)
    assert both.shape == (50, 2)
    np.testing.assert_array_equal(both[:, 0], first)


def test_interval_ignores_undefined_resamples() -> None:
    samples = np.array([np.nan, 1.0, 2.0, 3.0, np.nan])
    assert interval(samples, alpha=0.0) == (1.0, 3.0)
    low, high = interval(np.array([np.nan]))
    assert math.isnan(low) and math.isnan(high)
