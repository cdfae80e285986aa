"""The Bayes-optimal AUC: closed form against brute force, and the default's band."""

from __future__ import annotations

import numpy as np
import pytest

from churn_assets.lib.ingestion.simulator import (
    SimulationResult,
    expected_auc,
    expected_bayes_auc,
    realized_bayes_auc,
)


def _brute_force_auc(scores: np.ndarray, p: np.ndarray) -> float:
    greater = (scores[:, None] > scores[None, :]) + 0.5 * (scores[:, None] == scores[None, :])
    weight = p[:, None] * (1.0 - p[None, :])
    np.fill_diagonal(weight, 0.0)
    return float((weight * greater).sum() / weight.sum())


@pytest.mark.parametrize(
    ("n", "ties"),
    [(2, False), (7, False), (50, False), (60, True), (200, True)],
)
def test_expected_bayes_auc_matches_brute_force(n: int, ties: bool) -> None:
    rng = np.random.default_rng(n)
    p = rng.choice([0.05, 0.2, 0.5, 0.9], size=n) if ties else rng.uniform(0.01, 0.99, n)
    assert expected_bayes_auc(p) == pytest.approx(_brute_force_auc(p, p), abs=1e-12)
    scores = np.round(rng.normal(size=n), 1)  # coarse scores tie often
    assert expected_auc(scores, p) == pytest.approx(_brute_force_auc(scores, p), abs=1e-12)


def test_expected_auc_edge_cases() -> None:
    assert expected_bayes_auc(np.full(10, 0.3)) == pytest.approx(0.5)
    assert np.isnan(expected_bayes_auc(np.array([0.4])))
    with pytest.raises(ValueError):
        expected_auc(np.zeros(3), np.zeros(4))


def test_expected_bayes_auc_is_the_mean_realized_auc(result: SimulationResult) -> None:
    p = result.truth["churn_probability"].to_numpy()[:3000]
    rng = np.random.default_rng(0)
    realized = [realized_bayes_auc(p, rng.random(p.size) < p) for _ in range(150)]
    assert float(np.mean(realized)) == pytest.approx(expected_bayes_auc(p), abs=0.02)
    labels = result.snapshots["Churn"].to_numpy()[:3000]
    assert realized_bayes_auc(p, labels) == pytest.approx(expected_bayes_auc(p), abs=0.05)


def test_default_bayes_auc_is_in_the_target_band(default_result: SimulationResult) -> None:
    truth = default_result.truth
    month0 = (truth["snapshot_month"] == truth["snapshot_month"].min()).to_numpy()
    assert 0.80 <= expected_bayes_auc(truth["churn_probability"].to_numpy()[month0]) <= 0.88
