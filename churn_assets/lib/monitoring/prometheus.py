"""Monitoring numbers as a Prometheus textfile, for node_exporter's textfile collector.

Batch monitoring (drift per scoring batch) runs as a Dagster job, not a long-lived server, so
nothing can be scraped from it directly. Instead the numbers are written in the Prometheus text
exposition format to ``$CHURN_HOME/monitoring/prometheus/*.prom``; node_exporter started with
``--collector.textfile.directory`` on that folder serves them on its own ``/metrics`` and
Prometheus scrapes that (``bentos/monitoring/prometheus.yml``).

The format itself (escaping, HELP/TYPE lines) is rendered by ``prometheus_client`` (a BentoML
dependency), not by hand: see :func:`write_textfile`.
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from prometheus_client import CollectorRegistry, write_to_textfile
from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from churn_assets.lib.settings import PROMETHEUS_DIR_ENV_VAR, churn_home

# The classic (pre-UTF-8) name rules: every Prometheus, Grafana and node_exporter version accepts
# them without the quoted-name syntax.
_METRIC_NAME_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

TEXTFILE_SUBDIR = Path("monitoring") / "prometheus"
DEFAULT_TEXTFILE_NAME = "churn_monitoring.prom"

# Metric names written by drift_samples(); the Grafana dashboard queries exactly these.
DRIFT_SHARE = "churn_drift_share"
DRIFT_COLUMNS = "churn_drift_columns"
PREDICTION_DRIFT_SCORE = "churn_prediction_drift_score"
BATCH_ROWS = "churn_batch_rows"
BATCH_ROC_AUC = "churn_batch_roc_auc"
BATCH_ROC_AUC_DROP = "churn_batch_roc_auc_drop"
DRIFT_BREACH = "churn_drift_breach"
LAST_BATCH_TIMESTAMP = "churn_monitoring_last_batch_timestamp_seconds"

# (input key, metric name, help text) in the order drift_samples() looks them up.
_DRIFT_METRICS: tuple[tuple[str, str, str], ...] = (
    ("drifted_share", DRIFT_SHARE, "Share of feature columns whose distribution drifted (0..1)."),
    ("n_drifted", DRIFT_COLUMNS, "Number of feature columns whose distribution drifted."),
    (
        "prediction_drift_score",
        PREDICTION_DRIFT_SCORE,
        "Drift score of the predicted churn probability against the reference.",
    ),
    ("current_rows", BATCH_ROWS, "Rows in the monitored (current) batch."),
    ("roc_auc_current", BATCH_ROC_AUC, "ROC-AUC on the batch once its labels are known."),
    (
        "roc_auc_drop",
        BATCH_ROC_AUC_DROP,
        "Reference ROC-AUC minus the batch ROC-AUC (positive means worse).",
    ),
    ("breached", DRIFT_BREACH, "1 when the batch breached a drift or quality threshold, else 0."),
)

DRIFT_METRIC_NAMES: frozenset[str] = frozenset(
    [name for _, name, _ in _DRIFT_METRICS] + [LAST_BATCH_TIMESTAMP]
)


@dataclass(frozen=True)
class Sample:
    """One gauge sample to export.

    Attributes:
        name: Metric name, e.g. ``churn_drift_share``.
        help: The HELP text; every sample of one name must carry the same text.
        labels: Label names to values; every sample of one name must use the same label names.
        value: The sample value.
        type: The metric type; only ``"gauge"`` is supported (batch numbers are snapshots).
    """

    name: str
    help: str
    labels: Mapping[str, str] = field(default_factory=dict)
    value: float = 0.0
    type: Literal["gauge"] = "gauge"


def default_textfile_path(
    name: str = DEFAULT_TEXTFILE_NAME, home: str | os.PathLike[str] | None = None
) -> Path:
    """Where monitoring writes its textfile: ``$CHURN_PROMETHEUS_DIR/<name>`` if set (the
    directory node_exporter's textfile collector reads, e.g. a volume it shares with the run
    workers), else ``$CHURN_HOME/monitoring/prometheus/<name>``.

    Args:
        name: File name; it must end in ``.prom`` or the textfile collector ignores it.
        home: Optional state directory instead of ``$CHURN_HOME``.

    Returns:
        The path (its folder is created on demand).
    """
    configured = os.environ.get(PROMETHEUS_DIR_ENV_VAR)
    folder = Path(configured) if configured else churn_home(home) / TEXTFILE_SUBDIR
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def drift_samples(
    batch: str,
    numbers: Mapping[str, float | int | bool | None],
    model_version: str,
    *,
    timestamp: float | None = None,
) -> list[Sample]:
    """The standard monitoring metric set for one scoring batch.

    Args:
        batch: Batch label, e.g. ``"2026-05"``.
        numbers: Monitoring results with the keys ``drifted_share``, ``n_drifted``,
            ``prediction_drift_score``, ``current_rows``, ``roc_auc_current``, ``roc_auc_drop``
            and ``breached``. A missing key, ``None`` or NaN omits that metric (e.g. ROC-AUC
            before the batch's labels arrive) rather than exporting a misleading zero.
        model_version: The model version that scored the batch.
        timestamp: Unix time the batch was evaluated; defaults to now.

    Returns:
        Samples labelled ``batch`` and ``model_version``, plus
        ``churn_monitoring_last_batch_timestamp_seconds`` so dashboards can spot a stalled job.
    """
    labels = {"batch": str(batch), "model_version": str(model_version)}
    samples: list[Sample] = []
    for key, name, help_text in _DRIFT_METRICS:
        raw = numbers.get(key)
        if raw is None:
            continue
        value = float(raw)  # bool -> 0.0/1.0 for the breach flag
        if math.isnan(value):
            continue
        samples.append(Sample(name=name, help=help_text, labels=labels, value=value))
    samples.append(
        Sample(
            name=LAST_BATCH_TIMESTAMP,
            help="Unix time the monitoring job last evaluated this batch.",
            labels=labels,
            value=time.time() if timestamp is None else float(timestamp),
        )
    )
    return samples


def _families(samples: Iterable[Sample]) -> list[Metric]:
    """Group samples into metric families, validated and sorted by name then labels."""
    grouped: dict[str, list[Sample]] = {}
    for sample in samples:
        if sample.type != "gauge":
            raise ValueError(f"{sample.name}: only gauge samples are supported, got {sample.type}")
        if not _METRIC_NAME_RE.match(sample.name):
            raise ValueError(f"invalid metric name {sample.name!r}")
        for label in sample.labels:
            if not _LABEL_NAME_RE.match(label) or label.startswith("__"):
                raise ValueError(f"{sample.name}: invalid label name {label!r}")
        grouped.setdefault(sample.name, []).append(sample)

    families: list[Metric] = []
    for name in sorted(grouped):
        group = grouped[name]
        first = group[0]
        label_names = sorted(first.labels)
        seen: set[tuple[str, ...]] = set()
        rows: list[tuple[tuple[str, ...], float]] = []
        for sample in group:
            if sample.help != first.help:
                raise ValueError(f"{name}: conflicting HELP texts")
            if sorted(sample.labels) != label_names:
                raise ValueError(f"{name}: all samples of one metric need the same label names")
            values = tuple(str(sample.labels[label]) for label in label_names)
            if values in seen:
                # Prometheus rejects a scrape with duplicate series, losing the whole file.
                series = dict(zip(label_names, values, strict=True))
                raise ValueError(f"{name}: duplicate series {series}")
            seen.add(values)
            rows.append((values, float(sample.value)))
        family = GaugeMetricFamily(name, first.help, labels=label_names)
        for values, value in sorted(rows):
            family.add_metric(values, value)
        families.append(family)
    return families


class _StaticCollector:
    """A collector that yields prepared metric families (what CollectorRegistry needs)."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        yield from self._families


def write_textfile(path: str | os.PathLike[str], metrics: Iterable[Sample]) -> Path:
    """Write samples to ``path`` in the Prometheus text exposition format, atomically.

    Rendering and the atomic write are ``prometheus_client``'s: a private
    ``CollectorRegistry`` plus ``write_to_textfile``, which writes ``<path>.<pid>.<thread>`` in
    the same folder and renames it over ``path`` (so a scraper never reads half a file, and the
    temporary name does not end in ``.prom`` so the textfile collector never picks it up). It
    also does the label-value escaping (backslash, double quote, newline) and emits one
    HELP/TYPE pair per metric name.

    The samples go through a static collector of ``GaugeMetricFamily`` objects rather than
    ``Gauge`` instruments on purpose: ``Gauge`` picks its value store when ``prometheus_client``
    is first imported, and with ``PROMETHEUS_MULTIPROC_DIR`` set (as in a BentoML worker) it
    would write mmap files there and add a ``pid`` label. Metric families are plain data, so the
    output depends only on ``metrics``.

    Args:
        path: Target file; end it in ``.prom`` for node_exporter's textfile collector.
        metrics: Gauge samples; output is sorted by metric name, then label values, so the same
            samples always give the same bytes.

    Returns:
        The path written.

    Raises:
        ValueError: On an invalid metric or label name, a non-gauge sample, conflicting HELP
            texts or label names within one metric, or a duplicate series.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_StaticCollector(_families(metrics)))  # type: ignore[arg-type]
    write_to_textfile(str(target), registry)
    return target
