"""A request's scored rows as columns (``ScoredBatch``): its rows, the log table and the
metrics read the same answer as row-by-row routing would give."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from churn_assets.lib.serving.metrics import ServiceMetrics
from churn_assets.lib.serving.predictor import Predictor, in_sample
from churn_assets.lib.serving.risk_tiers import risk_tier
from churn_assets.lib.serving.scored import TIERS, ScoredBatch
from churn_assets_tests.lib.serving.test_predictor import _meta


class _Random:
    """A stand-in scorer with a different score per row (seeded)."""

    def __init__(self, seed: int):
        self.seed = seed

    def score_columns(self, columns: dict[str, Any]) -> np.ndarray:
        n = len(next(iter(columns.values())))
        return np.random.default_rng(self.seed).random(n)


def test_columns_equal_the_rows_routed_one_by_one() -> None:
    meta = _meta(True, ab_share=0.4)
    predictor = Predictor(meta, _Random(1), _Random(2))
    ids = [f"c{i}" if i % 7 else None for i in range(3000)]
    batch = predictor.score_columns({"tenure": np.zeros(len(ids))}, ids, "req")
    p, q = _Random(1).score_columns({"x": ids}), _Random(2).score_columns({"x": ids})
    rows = list(batch)
    assert len(rows) == len(batch) == len(ids)
    for i, (row, customer) in enumerate(zip(rows, ids, strict=True)):
        challenger = in_sample(customer or f"req-{i}", 0.4)
        slot, other_slot = (
            (meta.shadow, meta.champion) if challenger else (meta.champion, meta.shadow)
        )
        prob, other = (q[i], p[i]) if challenger else (p[i], q[i])
        assert row.slot is slot and row.customer_id == customer
        assert (row.probability, row.shadow_probability) == (prob, other)
        assert row.label is bool(prob >= slot.threshold)
        assert row.shadow_label is bool(other >= other_slot.threshold)
        assert row.tier == risk_tier(prob, slot.threshold, meta.medium_threshold)
        assert batch[i] == row
    assert batch.versions().tolist() == [r.slot.version for r in rows]
    assert batch.other_versions().tolist() == [
        ("3" if r.slot.version == "4" else "4") for r in rows
    ]
    table = predictor.log_table_from_columns({}, batch, "req")
    assert table.column("model_version").to_pylist() == batch.versions().tolist()
    assert table.column("score").to_pylist() == [r.probability for r in rows]
    assert table.column("risk_tier").to_pylist() == [r.tier for r in rows]


def test_metrics_count_each_model_rows_and_disagreements() -> None:
    import prometheus_client

    meta = _meta(True, ab_share=0.5)
    predictor = Predictor(meta, _Random(3), _Random(4))
    ids = [f"c{i}" for i in range(2000)]
    batch = predictor.score_columns({"tenure": np.zeros(len(ids))}, ids, "r")
    registry = prometheus_client.REGISTRY
    known = set(registry._collector_to_names)  # private: the registry has no public list
    try:
        ServiceMetrics(meta).record(batch)
        after = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for m in registry.collect()
            for s in m.samples
            if s.name.startswith("churn_")
        }
    finally:  # a service's metrics are process-wide: leave the registry as it was
        for collector in set(registry._collector_to_names) - known:
            registry.unregister(collector)
    rows = list(batch)
    for version in ("3", "4"):
        mine = [r for r in rows if r.slot.version == version]
        churn = sum(r.label for r in mine)
        key = ("churn_predictions_total", (("label", "churn"), ("model_version", version)))
        assert after[key] == churn
        stay = ("churn_predictions_total", (("label", "stay"), ("model_version", version)))
        assert after[stay] == len(mine) - churn
        assert after[("churn_score_count", (("model_version", version),))] == len(mine)
    disagree = sum(r.label != r.shadow_label for r in rows)
    assert after[("churn_shadow_disagreements_total", (("model_version", "4"),))] == disagree
    assert after[("churn_shadow_predictions_total", (("model_version", "4"),))] == len(rows)


def test_columns_of_another_length_are_refused() -> None:
    meta = _meta(False)
    with pytest.raises(ValueError, match="label has 2 rows, the batch 3"):
        ScoredBatch(
            ["a", "b", "c"], np.zeros(3), np.zeros(2, bool), TIERS[[0, 0, 0]], meta.champion
        )
    with pytest.raises(ValueError, match="shadow scores need the shadow slot"):
        ScoredBatch(
            ["a"],
            np.zeros(1),
            np.zeros(1, bool),
            TIERS[[0]],
            meta.champion,
            shadow_probability=np.zeros(1),
        )
