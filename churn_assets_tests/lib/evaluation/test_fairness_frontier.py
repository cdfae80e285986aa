"""The fairness-vs-profit frontier: per-group thresholds that close the judged gap, and what
that costs in expected profit."""

from __future__ import annotations

import numpy as np
import pandas as pd

from churn_assets.lib.evaluation.fairness import add_frontier, assess, publish
from churn_assets.lib.evaluation.fairness_frontier import cost_of, frontier
from churn_assets.lib.evaluation.model_card import fairness_note
from churn_assets.lib.evaluation.policy import FairnessPolicy
from churn_assets.lib.training.champion import CostModel


def _scored(n: int = 3000, seed: int = 2) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Calibrated scores that rank seniors' churners lower: one threshold finds fewer of them."""
    rng = np.random.default_rng(seed)
    senior = rng.uniform(size=n) < 0.3
    p = np.where(senior, rng.beta(2, 5, n), rng.beta(3, 3, n))
    y = (rng.uniform(size=n) < p).astype(int)
    return pd.DataFrame({"SeniorCitizen": senior.astype(int)}), y, p


def test_the_frontier_trades_profit_for_a_smaller_gap() -> None:
    frame, y, p = _scored()
    costs = CostModel()
    threshold = costs.break_even_probability  # maximises expected profit for everyone
    table = frontier(y, p, frame["SeniorCitizen"].to_numpy(), costs, threshold)
    single, mitigated = table.iloc[0], table.iloc[1:]
    assert single["point"] == "single threshold" and single["gap"] > 0.15
    # No per-group rule beats the break-even threshold on expected profit; closing the gap
    # costs something, and a narrower gap never earns more.
    assert (mitigated["expected_profit"] <= single["expected_profit"] + 1e-6).all()
    assert mitigated["gap"].min() <= 0.02
    ordered = mitigated.sort_values("gap")
    assert ordered["expected_profit"].is_monotonic_increasing
    cost = cost_of(table, 0.15)
    assert 0 < cost["cost_to_meet_limit"] < cost["cost_of_narrowest"]


def test_the_report_carries_the_frontier_its_plot_and_its_cost(tmp_path) -> None:
    frame, y, p = _scored()
    costs, policy = CostModel(), FairnessPolicy()
    threshold = costs.break_even_probability
    result = assess(frame, y, (p >= threshold).astype(int), ["SeniorCitizen"], policy)
    assert not result.passed  # the single threshold misses seniors' churners
    add_frontier(result, frame, y, p, threshold, costs, policy)
    assert set(result.frontier["attribute"]) == {"SeniorCitizen"}
    assert "meeting the limit 0.15 costs" in result.frontier_note
    assert "not a served candidate" in result.frontier_note
    assert result.frontier_note in fairness_note(result)  # the card states the cost
    published = publish(result, tmp_path)
    assert "frontier_SeniorCitizen.png" in published.files
    assert (tmp_path / "frontier_SeniorCitizen.png").read_bytes()[:4] == b"\x89PNG"
    assert len(pd.read_csv(tmp_path / "frontier.csv")) == len(result.frontier)


def test_a_champion_that_offers_no_one_still_gets_a_frontier() -> None:
    # Seen on a tiny simulated dataset: zero expected profit must not divide the note.
    frame, y, p = _scored(n=600)
    policy = FairnessPolicy(min_group_positives=5)
    result = assess(frame, y, np.zeros(len(y), int), ["SeniorCitizen"], policy)
    add_frontier(result, frame, y, p, 2.0, CostModel(offer_cost=1000.0), policy)
    assert "at expected profit 0" in result.frontier_note
