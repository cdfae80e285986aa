"""Every monitoring default, declared once: drift statistics and limits (and the checks that
watch them), the retraining trigger, the landing sensor's settle time, the sensors' interval.

Import-light on purpose (standard library only): ``MonitoringSettings`` in
``churn_assets/defs/resources.py`` takes its defaults from here while the definitions load,
and the libraries (:mod:`~churn_assets.lib.monitoring.drift`,
:mod:`~churn_assets.lib.monitoring.trigger`, :mod:`~churn_assets.lib.monitoring.landing`) use
the same classes, so a default changed here changes everywhere.

Why effect sizes and not p-values
---------------------------------
A statistical test asks "are the two samples from *exactly* the same distribution?". At
monitoring scale the answer is always no: a Kolmogorov-Smirnov test on a million rows per side
rejects at p < 0.05 once the two CDFs differ by about 0.002, so a shift of 1 % of a standard
deviation (a few cents on ``MonthlyCharges``) raises an alarm, while a chi-square test flags a
0.2 percentage-point change in a category's share. Such alarms are certain, meaningless and
quickly ignored. The question that matters is "did the distribution move *enough to matter*?",
which is an effect size with a fixed threshold, and whose value does not grow with the row
count. The defaults are therefore:

* numeric columns: Wasserstein (earth mover's) distance normed by the reference standard
  deviation (Evidently ``"wasserstein"``), drift at >= 0.1, i.e. the mass moved by a tenth of a
  standard deviation on average. The simulator's 15 % price rise scores about 0.3 on
  ``MonthlyCharges``; a 1 % shift scores 0.01.
* categorical columns: Jensen-Shannon distance (``"jensenshannon"``, natural log, in [0, 0.83]),
  drift at >= 0.1. Moving 20 % of customers to month-to-month contracts scores about 0.15. PSI
  (``"psi"``) was the alternative, but at its customary 0.2 threshold it misses that contract
  shift (PSI about 0.17). Numeric columns whose contract lists allowed values (``SeniorCitizen``
  in {0, 1}) are codes, not quantities, and are compared as categorical like the other yes/no
  columns, with the same statistic and threshold.
* the model's score: normed Wasserstein distance, drift at >= 0.1.

Evidently's own automatic choice (no method given) uses these same effect sizes above 1000
reference rows but KS, chi-square and Z tests below, so the meaning of "drifted" would change
with batch size; the methods are pinned here to keep the verdict comparable between batches.

Effect sizes also make the verdict stable under random subsampling: their sampling noise falls
like ``1 / sqrt(n)`` towards the true distance (about 0.005 at 100k rows, far below 0.1), whereas
a p-value on a sample depends on the sample size itself. :attr:`DriftConfig.max_rows` uses this
to cap the cost of the report. Conversely, noise is what makes small batches unreliable: in the
simulator the normed Wasserstein distance between two same-distribution samples of 1000 rows has
a 95th percentile near 0.09 (skewed columns such as ``TotalCharges``) and occasionally exceeds
0.1, so batches under :attr:`DriftConfig.min_rows` (2000) are reported as an insufficient
sample and never breach.

Dataset-level limit
-------------------
Because each column's threshold is an effect size set well above sampling noise, a drifted
column is already a real change; the dataset-level limit only asks for more than one before
acting. Realistic shifts touch few columns (the simulator's price rise plus contract shift
drifts two to four of the 19 Telco features, a share of 0.105 to 0.21, depending on how long
it has run), so the default limit on the share of drifted features is 0.1 (two of nineteen),
not Evidently's 0.5, which that shift would never reach.

Performance
-----------
Realised labels arrive a month after scoring, often for part of the batch only, so ROC-AUC is
computed on the rows with a label (and a score) in each frame, and a drop of at least
:attr:`DriftConfig.performance_drop_limit` against the reference breaches (when at least
``min_rows`` current rows are labelled: the ROC-AUC of 500 rows with 10 % positives has a
standard error of about 0.035).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from churn_assets.lib.monitoring.trigger import BatchOutcome

# The limits a drift report can breach, which are also the retraining trigger's signals (a
# breach rule combines them).
DATA_DRIFT = "data_drift"
PREDICTION_DRIFT = "prediction_drift"
PERFORMANCE_DROP = "performance_drop"
SIGNALS = (DATA_DRIFT, PREDICTION_DRIFT, PERFORMANCE_DROP)
# The asset checks of a month's drift report: check name -> (the limit it watches, its
# description in the UI).
MONTH_CHECKS: dict[str, tuple[str, str]] = {
    "drift_share_within_limit": (
        DATA_DRIFT,
        "Share of drifted features below the configured limit.",
    ),
    "prediction_drift_within_limit": (PREDICTION_DRIFT, "The score distribution has not drifted."),
    "performance_within_limit": (
        PERFORMANCE_DROP,
        "ROC-AUC on the labelled rows has not dropped past the limit.",
    ),
}
# Any clause whose signals are all true makes a breach (an OR of ANDs): a performance drop
# alone, or inputs and scores moving together (trigger.py explains why).
DEFAULT_BREACH_WHEN: tuple[tuple[str, ...], ...] = (
    (PERFORMANCE_DROP,),
    (DATA_DRIFT, PREDICTION_DRIFT),
)

# Two sensor ticks (~30 s each): a local file untouched that long is not being written.
DEFAULT_SETTLE_SECONDS = 60.0
# Reasons (SHAP per contract field) per customer in the batch scores; 0 turns SHAP off.
DEFAULT_TOP_REASONS = 3

# How often every sensor ticks (and the automation sensor evaluates). Read when the
# definitions load, so the daemon must be started with it: `make loop` uses 5 s.
SENSOR_INTERVAL_ENV_VAR = "CHURN_SENSOR_INTERVAL_SECONDS"
DEFAULT_SENSOR_INTERVAL_SECONDS = 30


def sensor_interval_seconds(environ: dict[str, str] | None = None) -> int:
    """``$CHURN_SENSOR_INTERVAL_SECONDS`` (default 30), at least 1.

    Raises:
        ValueError: when the variable is set to something that is not a whole number.
    """
    raw = (os.environ if environ is None else environ).get(SENSOR_INTERVAL_ENV_VAR, "").strip()
    if not raw:
        return DEFAULT_SENSOR_INTERVAL_SECONDS
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{SENSOR_INTERVAL_ENV_VAR} must be whole seconds, got {raw!r}") from None
    return max(1, value)


@dataclass(frozen=True)
class DriftConfig:
    """Statistics and limits of a drift report (module docstring: why these defaults).

    Methods are Evidently stat-test names (``"wasserstein"``, ``"jensenshannon"``, ``"psi"``,
    ``"hellinger"``, ``"ks"``, ``"chisquare"``, ...). For a distance the column drifts when its
    score is >= the threshold; for a test (``"ks"``, ``"chisquare"``, ``"z"``) the score is a
    p-value and the column drifts when it is below the threshold.

    Attributes:
        numeric_method: Stat test for numeric feature columns.
        numeric_threshold: Its threshold.
        categorical_method: Stat test for categorical feature columns (and numeric columns whose
            contract lists their allowed values).
        categorical_threshold: Its threshold.
        prediction_method: Stat test for the model's score column.
        prediction_threshold: Its threshold.
        drifted_share_limit: Share of compared feature columns that drift from which the
            dataset counts as drifted (a breach), in (0, 1].
        performance_drop_limit: ROC-AUC drop (reference minus current) from which performance
            counts as degraded (a breach).
        min_rows: Rows each frame needs (and labelled current rows for the performance limit)
            for a verdict; below it the batch is an insufficient sample and breaches nothing.
        max_rows: Cap on the rows of each frame given to Evidently; larger frames are
            subsampled without replacement (seeded, so deterministic). ``None`` compares every
            row. Effect sizes are stable under this sampling; p-values are not (a smaller
            sample gives a larger p-value for the same shift).
        sample_seed: Seed of that subsampling.
    """

    numeric_method: str = "wasserstein"
    numeric_threshold: float = 0.1
    categorical_method: str = "jensenshannon"
    categorical_threshold: float = 0.1
    prediction_method: str = "wasserstein"
    prediction_threshold: float = 0.1
    drifted_share_limit: float = 0.1
    performance_drop_limit: float = 0.05
    min_rows: int = 2000
    max_rows: int | None = 200_000
    sample_seed: int = 0

    def __post_init__(self) -> None:
        for name in ("numeric_threshold", "categorical_threshold", "prediction_threshold"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if not 0.0 < self.drifted_share_limit <= 1.0:
            raise ValueError(
                f"drifted_share_limit must be in (0, 1], got {self.drifted_share_limit}"
            )
        if not self.performance_drop_limit > 0:
            raise ValueError(
                f"performance_drop_limit must be > 0, got {self.performance_drop_limit}"
            )
        if self.min_rows < 1:
            raise ValueError(f"min_rows must be >= 1, got {self.min_rows}")
        if self.max_rows is not None and self.max_rows < self.min_rows:
            raise ValueError(
                f"max_rows ({self.max_rows}) must be None or >= min_rows ({self.min_rows})"
            )


@dataclass(frozen=True)
class TriggerConfig:
    """Thresholds of the retraining trigger (:mod:`~churn_assets.lib.monitoring.trigger`).

    Attributes:
        k: Breaching batches needed to retrain...
        n: ...among this many most recent eligible batches.
        min_rows: Batches with fewer rows are skipped (neither breach nor clean).
        cooldown: No new retraining request this soon after the last one (0 allowed).
        breach_when: Which signals make a breach, as alternatives of signals that must all
            be true; the default means ``performance_drop or (data_drift and
            prediction_drift)``.
    """

    k: int = 2
    n: int = 3
    min_rows: int = 1000
    cooldown: timedelta = timedelta(days=7)
    breach_when: tuple[tuple[str, ...], ...] = DEFAULT_BREACH_WHEN

    def __post_init__(self) -> None:
        if not 1 <= self.k <= self.n:
            raise ValueError(f"need 1 <= k <= n, got k={self.k}, n={self.n}")
        if self.min_rows < 0:
            raise ValueError(f"min_rows must be >= 0, got {self.min_rows}")
        if self.cooldown < timedelta(0):
            raise ValueError(f"cooldown must be >= 0, got {self.cooldown}")
        if not self.breach_when or not all(self.breach_when):
            raise ValueError("breach_when needs at least one non-empty clause")
        unknown = {s for clause in self.breach_when for s in clause} - set(SIGNALS)
        if unknown:
            raise ValueError(f"unknown signals {sorted(unknown)} in breach_when; use {SIGNALS}")

    def is_breach(self, outcome: BatchOutcome) -> bool:
        """Whether a batch breaches; an unknown performance (None) is not a drop."""
        true = set(outcome.signals())
        return any(set(clause) <= true for clause in self.breach_when)

    def rule(self) -> str:
        """The breach rule in words, e.g. ``performance_drop or (data_drift and ...)``."""
        clauses = [
            " and ".join(c) if len(c) == 1 or len(self.breach_when) == 1 else f"({' and '.join(c)})"
            for c in self.breach_when
        ]
        return " or ".join(clauses)
