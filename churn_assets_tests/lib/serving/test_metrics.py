"""The service's Prometheus metrics: a large request's scores are observed in one increment
per bucket, with the bucket counts one-by-one observation gives."""

from __future__ import annotations

import random

import pytest

from churn_assets.lib.serving.metrics import observe_all


def _histogram(name: str):
    import prometheus_client

    registry = prometheus_client.CollectorRegistry()
    buckets = [round(0.05 * i, 2) for i in range(1, 21)]
    return prometheus_client.Histogram(name, "scores", buckets=buckets, registry=registry)


@pytest.mark.parametrize("n", [10, 5_000])
def test_observe_all_counts_as_observe_does(n: int) -> None:
    rng = random.Random(n)
    # Bucket bounds themselves included: a value equal to a bound counts in that bucket.
    values = [rng.random() for _ in range(n)] + [0.0, 0.05, 0.5, 0.95, 1.0, 0.3]
    one_by_one, bulk = _histogram("one_by_one"), _histogram("bulk")
    for value in values:
        one_by_one.observe(value)
    observe_all(bulk, values)

    def samples(h) -> dict:
        (metric,) = h.collect()
        return {(s.name.rsplit("_", 1)[-1], s.labels.get("le")): s.value for s in metric.samples}

    expected, got = samples(one_by_one), samples(bulk)
    counts = {k: v for k, v in expected.items() if k[0] in ("bucket", "count")}
    assert {k: v for k, v in got.items() if k[0] in ("bucket", "count")} == counts
    assert got[("sum", None)] == pytest.approx(expected[("sum", None)], rel=1e-12)
    assert got[("count", None)] == len(values)
