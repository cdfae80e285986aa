"""The service's own Prometheus metrics (``churn_*``, beside BentoML's request metrics on
``/metrics``): predictions by label, the score histogram, shadow scores and disagreements,
which models are loaded, and the prediction log's health (failures by stage; a gauge that is
0 while any worker's writes fail)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from churn_assets.lib.serving.bundle import ServingMeta
from churn_assets.lib.serving.scored import ScoredBatch


class ServiceMetrics:
    """The ``churn_*`` metrics of one worker.

    Create it in the worker (the service's ``__init__``), not at import: BentoML sets
    ``PROMETHEUS_MULTIPROC_DIR`` in each worker after importing the service module, and
    ``/metrics`` aggregates across workers.
    """

    def __init__(self, meta: ServingMeta):
        import prometheus_client

        self.shadow_version = meta.shadow.version if meta.shadow is not None else None
        self.predictions = prometheus_client.Counter(
            "churn_predictions", "Predictions served, by label.", ["label", "model_version"]
        )
        self.score = prometheus_client.Histogram(
            "churn_score",
            "Churn probability of served predictions.",
            ["model_version"],
            buckets=[round(0.05 * i, 2) for i in range(1, 21)],
        )
        self.shadow = prometheus_client.Counter(
            "churn_shadow_predictions", "Shadow (challenger) scores.", ["model_version"]
        )
        self.disagree = prometheus_client.Counter(
            "churn_shadow_disagreements", "Shadow and served label differ.", ["model_version"]
        )
        info = prometheus_client.Gauge(
            "churn_model_info",
            "Models loaded by the service (value 1).",
            ["model_name", "model_version", "family", "threshold", "role"],
            multiprocess_mode="max",
        )
        self.log_errors = prometheus_client.Counter(
            "churn_prediction_log_errors",
            "Prediction-log failures (the prediction was served, its log line lost for "
            "stage=write), by stage: write, rotate, retention.",
            ["stage"],
        )
        self.log_ok = prometheus_client.Gauge(
            "churn_prediction_log_ok",
            "1 while the prediction log is written, 0 while writes fail (min over workers).",
            multiprocess_mode="livemin",
        )
        self.log_ok.set(1)
        for role, slot in (("champion", meta.champion), ("shadow", meta.shadow)):
            if slot is not None:
                info.labels(
                    meta.model_name, slot.version, slot.family, f"{slot.threshold:.4f}", role
                ).set(1)

    def log_error(self, stage: str, _exc: BaseException) -> None:
        """Count one prediction-log failure (``PredictionLog``'s ``on_error``)."""
        self.log_errors.labels(stage).inc()
        if stage == "write":
            self.log_ok.set(0)

    def record(self, scored: ScoredBatch) -> None:
        """Count one request's scored rows."""
        # Per request and per column, not per row: a labelled child lookup costs more than
        # the increment (~8 ms per 1,000 rows otherwise).
        for version, rows in scored.per_version():
            scores = scored.probability[rows]
            if not len(scores):
                continue
            churned = int(np.count_nonzero(scored.label[rows]))
            observe_all(self.score.labels(version), scores)
            if churned:
                self.predictions.labels("churn", version).inc(churned)
            if churned < len(scores):
                self.predictions.labels("stay", version).inc(len(scores) - churned)
        if scored.shadow_label is not None and len(scored):
            self.shadow.labels(self.shadow_version).inc(len(scored))
            disagreed = int(np.count_nonzero(scored.shadow_label != scored.label))
            if disagreed:
                self.disagree.labels(self.shadow_version).inc(disagreed)


def observe_all(histogram: Any, values: Any) -> None:
    """``histogram.observe(v)`` for every value (a sequence or an array of floats), as one
    increment per bucket: 10,000 scores of a ``/bulk/predict`` request cost ~20 ms observed
    one by one, ~1 ms here."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) < 64:
        for value in values.tolist():
            histogram.observe(value)
        return

    # prometheus_client has no bulk observe: its child's buckets and sum (private
    # attributes, stable since 0.4) are incremented as observe() does, bucket = the first
    # upper bound >= the value.
    bounds = histogram._upper_bounds
    counts = np.bincount(np.searchsorted(bounds, values, side="left"), minlength=len(bounds))
    for bucket, count in zip(histogram._buckets, counts.tolist(), strict=True):
        if count:
            bucket.inc(count)
    histogram._sum.inc(math.fsum(values.tolist()))
